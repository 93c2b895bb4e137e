#!/bin/sh
# tests/size_limits.sh ROOT: keep the code in pieces a reader can hold. In proto/, core/, net/,
# tools/ and perf/ (C only):
#   - no file over FILE_MAX lines (1,200): split a module along its seams before that;
#   - no function over FUNC_MAX lines (120): name its steps as functions.
# A function is a brace block that starts with "{" alone in column 0 and ends with "}" alone in
# column 0, as clang-format lays out every function here. Prints each offender; exits 1 if any.
set -eu
root=${1:?usage: size_limits.sh ROOT}
FILE_MAX=1200
FUNC_MAX=120
status=0
for f in $(cd "$root" && git ls-files 'proto/*.c' 'proto/*.h' 'core/*.c' 'core/*.h' 'net/*.c' \
	'net/*.h' 'tools/*.c' 'tools/*.h' 'perf/*.c' 'perf/*.h' 'perf/**/*.c' 'perf/**/*.h' | sort -u); do
	[ -e "$root/$f" ] || continue
	lines=$(wc -l <"$root/$f")
	if [ "$lines" -gt "$FILE_MAX" ]; then
		echo "size_limits: $f has $lines lines (at most $FILE_MAX)" >&2
		status=1
	fi
	if ! awk -v max="$FUNC_MAX" -v file="$f" '
		/^\{$/ { start = NR; head = prev; next }
		/^\}/ && start { n = NR - start + 1
			if (n > max) { printf "size_limits: %s:%d: %s is %d lines (at most %d)\n",
				file, start, head, n, max > "/dev/stderr"; bad = 1 }
			start = 0 }
		/^[^ \t{}#\/]/ { prev = $0 }
		END { exit bad }' "$root/$f"; then
		status=1
	fi
done
[ "$status" -eq 0 ] && echo "size_limits: no file over $FILE_MAX lines, no function over $FUNC_MAX"
exit "$status"
