#!/bin/sh
# SPDX-License-Identifier: MIT
# Includes run one way: rt/ <- io/ <- devices/ <- control/ <- tools/ (docs/design.md, Layout). A
# file may include its own folder and the folders below it, never one above. Prints every
# include that runs up and exits 1 if there is one.
# usage: mk/layers.sh   (from the repository root; `make lint` runs it)
set -u
layers="rt io devices control tools"
rank() {
	i=0
	for l in $layers; do
		[ "$l" = "$1" ] && { echo $i; return; }
		i=$((i + 1))
	done
	echo -1
}
bad=0 n=0
for dir in $layers; do
	mine=$(rank "$dir")
	for f in "$dir"/*.c "$dir"/*.h; do
		[ -e "$f" ] || continue
		n=$((n + 1))
		for inc in $(sed -n 's/^#include "\([a-z]*\)\/.*"$/\1/p' "$f"); do
			theirs=$(rank "$inc")
			if [ "$theirs" -gt "$mine" ]; then
				echo "layers: $f includes $inc/ (above $dir/)" \
					"$(grep -n "^#include \"$inc/" "$f" | head -1)"
				bad=1
			fi
		done
	done
done
[ $bad = 0 ] && echo "layers: $n files, every include runs down (rt <- io <- devices <- control <- tools)"
exit $bad
