# tools/apt-need.sh: sourced by tests/run.sh and tools/demo.sh, the two README commands.
#
#   apt_need WHO [--cmd COMMAND PACKAGE]... PACKAGE...
#
# Installs the Debian packages of the list that are not installed, and, for each --cmd pair, the
# package when the command is missing (Node and npm may come from elsewhere than Debian). As root
# it runs apt-get; otherwise it says what to install and exits 1. WHO names the caller in messages.
apt_need() {
	local who=$1; shift
	local missing=()
	while [ $# -gt 0 ]; do
		if [ "$1" = --cmd ]; then
			command -v "$2" >/dev/null 2>&1 || missing+=("$3")
			shift 3
			continue
		fi
		dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$1")
		shift
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	printf '\n==> installing %s\n' "${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		echo "$who: missing Debian packages: ${missing[*]}" >&2
		echo "run this script as root, or first: sudo apt-get install ${missing[*]}" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
