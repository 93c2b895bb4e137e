#!/bin/sh
# tests/include_cycles.sh ROOT: the modules of each library folder (proto, core, net) must form no
# include cycle. A module is a .c and the header of the same name; module A depends on module B
# when a file of A includes "B.h". A cycle means two modules call each other: one of them should
# hand its result back instead (docs/design.md, "Layering"). Prints the modules of the first cycle
# found in each folder and exits 1 if there is one.
set -eu
root=${1:?usage: include_cycles.sh ROOT}
status=0
for dir in proto core net; do
	edges=$(for f in "$root/$dir"/*.c "$root/$dir"/*.h; do
		[ -e "$f" ] || continue
		from=$(basename "$f" | sed 's/\.[ch]$//')
		sed -n 's/^#include "\([^"]*\)\.h".*/\1/p' "$f" | while read -r to; do
			# Only modules of this folder: a header from a lower layer cannot include back.
			if [ "$to" != "$from" ] && [ -e "$root/$dir/$to.h" ]; then
				echo "$from $to"
			fi
		done
	done)
	if ! out=$(printf '%s\n' "$edges" | tsort 2>&1 >/dev/null); then
		echo "include_cycles: $dir/ has an include cycle:" >&2
		printf '%s\n' "$out" | sed 's/^tsort: /  /' >&2
		status=1
	fi
done
[ "$status" -eq 0 ] && echo "include_cycles: proto/, core/ and net/ have no include cycle"
exit "$status"
