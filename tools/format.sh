#!/usr/bin/env bash
# tools/format.sh: format every tracked C file with clang-format (the style is .clang-format), or,
# with --check, list the files that are not formatted and exit 1. The test command runs --check.
#
#   bash tools/format.sh            rewrite files in place
#   bash tools/format.sh --check    change nothing; exit 1 if any file needs formatting
#
# Needs clang-format 14 (Debian 12's `clang-format`): other versions format some constructs
# differently, so the check insists on 14.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

check=0
case "${1:-}" in
--check) check=1 ;;
"") ;;
*)
	echo "usage: tools/format.sh [--check]" >&2
	exit 2
	;;
esac

cf=${CLANG_FORMAT:-clang-format}
if ! command -v "$cf" >/dev/null; then
	echo "tools/format.sh: $cf not found (apt-get install clang-format)" >&2
	exit 2
fi
version=$("$cf" --version | sed -nE 's/.*version ([0-9]+)\..*/\1/p')
if [ "$version" != 14 ]; then
	echo "tools/format.sh: clang-format 14 needed (Debian 12), found: $("$cf" --version)" >&2
	exit 2
fi

mapfile -t files < <(git ls-files '*.c' '*.h')
if [ "$check" -eq 0 ]; then
	"$cf" -i "${files[@]}"
	exit 0
fi
bad=()
for f in "${files[@]}"; do
	if ! "$cf" --dry-run --Werror "$f" >/dev/null 2>&1; then
		bad+=("$f")
	fi
done
if [ "${#bad[@]}" -gt 0 ]; then
	echo "tools/format.sh: not formatted (run bash tools/format.sh, then review the diff):" >&2
	printf '  %s\n' "${bad[@]}" >&2
	exit 1
fi
echo "tools/format.sh: ${#files[@]} files formatted"
