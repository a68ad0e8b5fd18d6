#!/bin/bash
# SPDX-License-Identifier: MIT
# Do the man pages (docs/man/) format without a warning and still cover the programs? Each
# page through groff -man -ww and man -l; every subcommand of `flux --help` has its section in
# flux(1); every long option of `fluxd --help`, `fluxtrace --help` and flux-rt-tune's usage is
# in its page; every key control/config.c accepts is in flux-site.yaml(5). No root needed.
#   tests/deploy/man.sh            BUILD=build-x tests/deploy/man.sh   (after make)
# Exit 0 all passed, 1 a check failed, 77 skipped (the reason printed).
# shellcheck disable=SC2015 # "a && b || c": b never fails
set -u

BUILD=${BUILD:-build}
MAN=${MAN_DIR:-docs/man}
FAILED=0
say() { printf 'man: %s\n' "$*"; }
skip() { say "skipped: $*"; exit 77; }
fail() { say "FAIL  $*"; FAILED=1; }

[ -d "$MAN" ] && [ -f control/config.c ] || skip "run from the repository root"
for t in groff man; do command -v $t >/dev/null || skip "no $t (apt-get install groff-base man-db)"; done
[ -x "$BUILD/bin/flux" ] && [ -x "$BUILD/bin/fluxd" ] || skip "$BUILD/bin/flux, fluxd not built (make)"

# The text of a page as a reader sees it, one word a line (options and keys whole).
words() { MANWIDTH=200 man -l "$1" 2>/dev/null | tr -s ' \t,;()[]|' '\n' | sed 's/[.:]$//'; }
has() { words "$MAN/$1" | grep -qxF -- "$2"; }

n=0
for p in "$MAN"/*.[158]; do
	w=$(groff -man -Tutf8 -ww "$p" 2>&1 >/dev/null)
	[ -z "$w" ] || fail "groff -ww $p: $w"
	w=$(man -l "$p" 2>&1 >/dev/null)
	[ -z "$w" ] || fail "man -l $p: $w"
	n=$((n + 1))
done
say "$n pages format without a warning"

cmds=$("$BUILD/bin/flux" --help 2>&1 | sed -n '/^commands:/,$ s/^  \([a-z][a-z0-9-]*\) .*/\1/p')
[ -n "$cmds" ] || fail "no commands in flux --help"
for c in $cmds; do
	MANWIDTH=200 man -l "$MAN/flux.1" 2>/dev/null | grep -q "^   flux $c\( \|$\)" ||
		fail "flux(1) has no section for 'flux $c'"
done
say "flux(1): $(echo "$cmds" | wc -w) subcommands"

opts() { grep -o -- '--[a-z][a-z0-9-]*' | sort -u; }
check_opts() { # PAGE HELP-TEXT
	local o k=0
	for o in $(printf '%s\n' "$2" | opts); do
		has "$1" "$o" || fail "$1 lacks $o"
		k=$((k + 1))
	done
	say "$1: $k options"
}
check_opts fluxd.8 "$("$BUILD/bin/fluxd" --help 2>&1)"
if [ -x "$BUILD/bin/fluxtrace" ]; then
	check_opts fluxtrace.8 "$("$BUILD/bin/fluxtrace" --help 2>&1)"
else
	say "fluxtrace not built: its options not checked"
fi
check_opts flux-rt-tune.8 "$(deploy/rt-tune.sh --help 2>&1)"

keys=$(grep -oE '\b[A-Z]+\("[a-z_0-9]+"|\.key = "[a-z_0-9]+"' control/config.c |
	sed 's/.*"\([a-z_0-9]*\)"/\1/' | sort -u)
[ "$(echo "$keys" | wc -w)" -gt 40 ] || fail "only $(echo "$keys" | wc -w) keys found in control/config.c"
k=0
for key in $keys; do
	words "$MAN/flux-site.yaml.5" | grep -qE -- "(^|\.)$key\$" || fail "flux-site.yaml(5) lacks the key $key"
	k=$((k + 1))
done
say "flux-site.yaml(5): $k keys of control/config.c"

[ $FAILED = 0 ] && say "all passed" || say "FAILED"
exit $FAILED
