#!/usr/bin/env bash
# tools/wolfssl-build.sh: wolfSSL built from Debian's own source package with the x86-64 assembly
# that Debian's build leaves out, installed as a static library under build/wolfssl/ for CMake
# to prefer (CMakeLists.txt, RC_WOLFSSL).
#
#     bash tools/wolfssl-build.sh [--force]
#
# Debian 12's libwolfssl is configured without wolfSSL's assembly options: AES-GCM,
# ChaCha20-Poly1305, SHA-2 and X25519 run as portable C, P-256 and RSA on the generic big-number
# code (whose only assembly is a few inline x86-64 multiply steps). This script, on Debian 12 as
# root:
#   1. adds a deb-src entry for the Debian archive if apt has none (a copy of the system's
#      bookworm entries as /etc/apt/sources.list.d/ringcast-deb-src.sources, or .list when the
#      system uses one-line sources.list files), and says so;
#   2. installs the build tools that are missing (tools/apt-need.sh);
#   3. fetches the source with `apt-get source wolfssl` into build/wolfssl-src/ (Debian's patches,
#      security fixes included, applied by dpkg-source);
#   4. configures it with the options of the package's debian/rules (read from it, so the library
#      has the API of Debian's: --enable-distro, i.e. OPENSSL_ALL and the rest) and Debian's
#      compiler flags (dpkg-buildflags), plus ASM_OPTS below, less DROP_DEFINES, and installs it,
#      static only, into build/wolfssl/ (lib/libwolfssl.a, include/, lib/pkgconfig/wolfssl.pc).
# Nothing happens when build/wolfssl/ already holds a build with the same options (a stamp file
# records them; the source fetched once is kept and built again when the options change); --force
# fetches the source again (a newer Debian revision, if any) and rebuilds. It prints one line
# saying what it did; the build's output goes to build/wolfssl-src/build.log, whose end is
# printed if a step fails.
#
# Environment: RC_BUILD_DIR (default ./build, as tests/run.sh), RC_JOBS (default nproc).
set -euo pipefail

# The assembly: AES-NI, PCLMULQDQ and AVX/AVX2 for AES-GCM, ChaCha20, Poly1305, SHA-2 and X25519
# (--enable-intelasm, which implies --enable-aesni), and the single-precision P-256/P-384 and
# RSA-2048/3072 arithmetic in x86-64 assembly (--enable-sp --enable-sp-asm). wolfSSL picks the
# AVX/AVX2/BMI2/ADX code at run time from cpuid, so the library runs on any x86-64 CPU with AES-NI.
ASM_OPTS=(--enable-intelasm --enable-aesni --enable-sp --enable-sp-asm)
# One define taken out: SESSION_CERTS, which Debian's options turn on (--enable-distro, and
# several of the features it implies, force it whatever --disable-sessioncerts says). It keeps room
# for a peer's certificate chain (up to 9 certificates of 2 KiB) in every session object: 37.5 KB
# that wolfSSL_new allocates and zeroes for each connection, and that a server asking for no client
# certificate never fills. Without it an idle wss:// connection costs ringcast 24.0 KB of memory
# instead of 60.8 KB (docs/benchmarks.md, "Memory per idle wss:// connection"). It takes the peer
# chain of a session out of the API (wolfSSL_get_peer_chain and the like); ringcast does not use it.
DROP_DEFINES=(SESSION_CERTS)
STAMP_FORMAT=2

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${RC_BUILD_DIR:-$top/build}
jobs=${RC_JOBS:-$(nproc)}
src_root=$build/wolfssl-src
prefix=$build/wolfssl
stamp=$prefix/ringcast-stamp
log=$src_root/build.log
me=wolfssl-build.sh

die() {
	echo "$me: $*" >&2
	exit 1
}

force=0
case "${1:-}" in
--force) force=1 ;;
"") ;;
-h | --help)
	sed -n '2,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	exit 0
	;;
*) die "unknown argument '$1' (usage: tools/wolfssl-build.sh [--force])" ;;
esac

[ "$(uname -m)" = x86_64 ] || die "the assembly options are for x86-64; this machine is $(uname -m)"

# --- up to date? -------------------------------------------------------------------------------
# The stamp's first line is what this script asks for; the rest records what was built.
want="format=$STAMP_FORMAT asm=${ASM_OPTS[*]} drop=${DROP_DEFINES[*]}"
if [ "$force" -eq 0 ] && [ -f "$stamp" ] && [ -f "$prefix/lib/libwolfssl.a" ] &&
	[ -f "$prefix/lib/pkgconfig/wolfssl.pc" ] && [ "$(head -n 1 "$stamp")" = "$want" ]; then
	echo "$me: ${prefix#"$top"/} is up to date ($(sed -n 's/^source=//p' "$stamp"), $(sed -n 's/^asm=//p' "$stamp"))"
	exit 0
fi

# One build at a time in this tree (tests/run.sh and tools/demo.sh may both call this).
mkdir -p "$src_root"
exec 9>"$src_root/.lock"
flock 9

# --- 1. a deb-src entry ------------------------------------------------------------------------
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[ -n "$codename" ] || die "cannot read VERSION_CODENAME from /etc/os-release (Debian 12 expected)"

# Prints the deb-src copies of the enabled deb822 stanzas (FILE...) whose suites are $codename or
# $codename-*: Debian's own archive, not third-party repositories without source packages.
deb822_src() {
	awk -v cn="$codename" 'BEGIN { RS = "" }
	{
		n = split($0, l, "\n"); types = ""; suites = ""; enabled = "yes"
		for (i = 1; i <= n; i++) {
			if (l[i] ~ /^[Tt]ypes:/) types = l[i]
			if (l[i] ~ /^[Ss]uites:/) suites = l[i]
			if (l[i] ~ /^[Ee]nabled:/) enabled = tolower(l[i])
		}
		if (types !~ /[: \t]deb([ \t]|$)/ || enabled ~ /no/) next
		m = split(suites, s, /[ \t]+/); ours = 0
		for (j = 2; j <= m; j++) if (s[j] ~ ("^" cn "(-[a-z]+)?$")) ours = 1
		if (!ours) next
		for (i = 1; i <= n; i++) {
			if (l[i] ~ /^#/) continue
			if (l[i] ~ /^[Tt]ypes:/) l[i] = "Types: deb-src"
			print l[i]
		}
		print ""
	}' "$@"
}

# Prints the deb-src copies of the one-line "deb" entries (FILE...) for $codename or $codename-*.
list_src() {
	sed -nE "s/^[[:space:]]*deb([[:space:]]+(\[[^]]*\][[:space:]]+)?[^[:space:]]+[[:space:]]+$codename(-[a-z]+)?[[:space:]])/deb-src\1/p" "$@"
}

# True if apt already has a deb-src entry for this release.
have_deb_src() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		grep -qE "^[[:space:]]*deb-src[[:space:]]+(\[[^]]*\][[:space:]]+)?[^[:space:]]+[[:space:]]+$codename([[:space:]]|-)" "$f" &&
			return 0
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk -v cn="$codename" 'BEGIN { RS = ""; found = 1 }
		/(^|\n)[Tt]ypes:[^\n]*deb-src/ && $0 ~ ("(^|\n)[Ss]uites:[^\n]*[ \t]" cn "([ \t-]|\n|$)") \
			{ found = 0 } END { exit found }' "$f" && return 0
	done
	return 1
}

add_deb_src() {
	local sources=() lists=() f text dest
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] && sources+=("$f")
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] && lists+=("$f")
	done
	text=
	if [ ${#sources[@]} -gt 0 ]; then
		text=$(deb822_src "${sources[@]}")
		dest=/etc/apt/sources.list.d/ringcast-deb-src.sources
	fi
	if [ -z "$text" ] && [ ${#lists[@]} -gt 0 ]; then
		text=$(list_src "${lists[@]}")
		dest=/etc/apt/sources.list.d/ringcast-deb-src.list
	fi
	[ -n "$text" ] || die "no '$codename' Debian entry in /etc/apt/sources.list or /etc/apt/sources.list.d/ to copy as deb-src; add one by hand"
	[ "$(id -u)" -eq 0 ] || die "apt has no deb-src entry; run this script as root, or add one (the 'deb' entries with 'deb-src') and run apt-get update"
	printf '# Added by ringcast tools/wolfssl-build.sh: Debian source packages (apt-get source).\n%s\n' \
		"$text" >"$dest"
	apt-get update -qq >/dev/null
	echo "$me: apt had no deb-src entry; added $dest ($(grep -cE '^(Types: deb-src|deb-src )' "$dest") entries, copies of the $codename ones) and ran apt-get update"
}

# --- 2. build tools ------------------------------------------------------------------------------
. "$top/tools/apt-need.sh"

# --- 3. the source -------------------------------------------------------------------------------
# The newest .dsc in $src_root (apt-get source downloads into the current directory).
newest_dsc() {
	local d
	d=$(cd "$src_root" && ls -1 wolfssl_*.dsc 2>/dev/null | sort -V | tail -n 1 || true)
	[ -n "$d" ] && echo "$src_root/$d"
}

# True if apt knows the source package (not grep -q in a pipe: pipefail and SIGPIPE).
have_source_pkg() {
	local out
	out=$(apt-cache showsrc wolfssl 2>/dev/null || true)
	grep -q '^Version:' <<<"$out"
}

fetch_source() {
	have_deb_src || add_deb_src
	have_source_pkg || apt-get update -qq >/dev/null || true
	have_source_pkg ||
		die "apt knows no source package wolfssl even with a deb-src entry (apt-get update failed?)"
	(cd "$src_root" && apt-get source --download-only -qq wolfssl >>"$log" 2>&1) ||
		fail "apt-get source wolfssl"
}

# fail STEP: the build log's end and a one-line reason.
fail() {
	tail -n 40 "$log" >&2 || true
	die "$1 failed (whole log: ${log#"$top"/})"
}

# The options of debian/rules' dh_auto_configure line (the lines after "dh_auto_configure --",
# continued with backslashes).
debian_opts() {
	awk '/dh_auto_configure[ \t]+--/ { on = 1; sub(/.*dh_auto_configure[ \t]+--/, "") }
	on { cont = ($0 ~ /\\[ \t]*$/); sub(/\\[ \t]*$/, ""); for (i = 1; i <= NF; i++) print $i
	     if (!cont) on = 0 }' "$1"
}

start=$(date +%s)
: >"$log"
apt_need "$me" build-essential dpkg-dev autoconf automake libtool pkg-config
[ "$force" -eq 1 ] && rm -f "$src_root"/wolfssl_*
dsc=$(newest_dsc || true)
if [ -z "$dsc" ]; then
	fetch_source
	dsc=$(newest_dsc || true)
	[ -n "$dsc" ] || die "apt-get source wolfssl left no wolfssl_*.dsc in ${src_root#"$top"/}"
fi
version=$(sed -n 's/^Version: //p' "$dsc" | head -n 1)
upstream=${version%%-*}
[ "$upstream" = 5.5.4 ] ||
	echo "$me: note: Debian's source is wolfSSL $upstream; the options here were chosen for 5.5.4 (Debian 12)" >&2

# A fresh tree every time: no state left from an earlier configure.
tree=$src_root/wolfssl-$upstream
rm -rf "$tree"
(cd "$src_root" && dpkg-source -x "$dsc" "$tree" >>"$log" 2>&1) || fail "dpkg-source -x $(basename "$dsc")"

# --- 4. configure, build, install ------------------------------------------------------------------
mapfile -t deb_opts < <(debian_opts "$tree/debian/rules")
[ ${#deb_opts[@]} -gt 0 ] || die "found no dh_auto_configure options in ${tree#"$top"/}/debian/rules"
# --enable-distro turns the shared library on; only the static one is built and installed here
# (nothing to find at run time, no rpath), from position-independent code like Debian's .so.
opts=("${deb_opts[@]}" "${ASM_OPTS[@]}" --disable-shared --enable-static --with-pic
	--prefix="$prefix" --libdir="$prefix/lib" --disable-dependency-tracking)
(
	cd "$tree"
	# Debian's compiler flags (debian/rules exports hardening=+all).
	flags=$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=configure)
	autoreconf -fi >>"$log" 2>&1 || fail "autoreconf"
	eval "./configure ${opts[*]@Q} $flags" >>"$log" 2>&1 || fail "configure ${opts[*]}"
	# --enable-distro sets enable_shared=yes after libtool read --disable-shared: the generated
	# libtool would compile every file twice and link a .so nobody uses.
	sed -i 's/^build_libtool_libs=yes$/build_libtool_libs=no/' libtool
	# The defines taken out, from the compiler flags and from the options.h the library and its
	# users both read, so that they agree.
	for d in "${DROP_DEFINES[@]}"; do
		sed -i "s/ -D$d\\b//g" Makefile
		sed -i "/^#undef  $d\$/d; /^#define $d\$/d" wolfssl/options.h
	done
	make -j "$jobs" src/libwolfssl.la >>"$log" 2>&1 || fail "make"
	rm -rf "$prefix"
	make install-libLTLIBRARIES install-nobase_includeHEADERS install-pkgconfigDATA \
		>>"$log" 2>&1 || fail "make install"
	# A distro build does not install options.h (it differs per architecture); Debian's
	# libwolfssl-dev.install does, and so do we.
	install -m 644 wolfssl/options.h "$prefix/include/wolfssl/options.h"
	# The static library needs what the shared one was linked with (libm: log, pow; the
	# Makefile's LIBS): say so in the .pc, for `pkg-config --static` and CMake.
	private=$(sed -nE 's/^(LIBM|LIB_ADD|LIB_STATIC_ADD|LIBS) = //p' Makefile | tr '\n' ' ' | xargs)
	echo "Libs.private: $private" >>"$prefix/lib/pkgconfig/wolfssl.pc"
	echo "$flags" >"$src_root/flags"
) || exit 1
rm -f "$prefix"/lib/*.la "$prefix"/lib/libwolfssl.so*
[ -f "$prefix/lib/libwolfssl.a" ] || die "the build installed no $prefix/lib/libwolfssl.a"
grep -q WOLFSSL_SP_X86_64_ASM "$prefix/include/wolfssl/options.h" &&
	grep -q WOLFSSL_AESNI "$prefix/include/wolfssl/options.h" ||
	die "the installed options.h lacks WOLFSSL_AESNI or WOLFSSL_SP_X86_64_ASM: the assembly is not in"
for d in "${DROP_DEFINES[@]}"; do
	! grep -q "^#define $d\$" "$prefix/include/wolfssl/options.h" ||
		die "the installed options.h still defines $d"
done
{
	echo "$want"
	echo "source=wolfssl $version"
	echo "asm=${ASM_OPTS[*]}"
	echo "dropped=${DROP_DEFINES[*]}"
	echo "debian=${deb_opts[*]}"
	echo "configure=${opts[*]}"
	echo "flags=$(cat "$src_root/flags")"
} >"$stamp"
echo "$me: built wolfSSL $version (Debian's options ${deb_opts[*]} + ${ASM_OPTS[*]}, without ${DROP_DEFINES[*]}) into ${prefix#"$top"/} in $(($(date +%s) - start)) s"
