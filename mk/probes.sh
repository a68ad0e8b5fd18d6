#!/bin/sh
# SPDX-License-Identifier: MIT
# Probe names are an interface listed once, in rt/probe_list.h (FLUX_PROBES; docs/style.md,
# BPF). The C code is checked by the compiler; this checks the text that names probes:
#   - bpf/*.bt: every usdt:...:flux:NAME is a listed probe, the argN its block reads exist
#     (N < the probe's argument count), and a NAME(args) in the opening comment has the
#     list's arguments;
#   - bpf/fluxtrace.bpf.c: one BPF_USDT() program per probe, with the list's arguments in
#     the list's order (the compiler only sees that each probe has one);
#   - docs/latency.md's probe table: one row per probe, with its thread and arguments;
#     the from/to cells of the latency tables and any flux:NAME in docs/, README.md and
#     bpf/README.md name listed probes.
# Prints every mismatch and exits 1 if there is one.
# usage: mk/probes.sh   (from the repository root; `make lint` runs it; CC= picks the
#                       preprocessor that reads the list)
set -u
CC=${CC:-cc}
list=$(printf '#include "rt/probe_list.h"\n#define L(n, t, a) @n t FLUX_PROBE_ARGS_STR(a)\n%s\n' \
	'FLUX_PROBES(L)' | $CC -E -P -I. -x c - | tr '@' '\n' |
	sed -n 's/^\([a-z_0-9]*\) \([a-z]*\) "\(.*\)" *$/\1 \2 \3/p' | tr -d ,)
# one line per probe: NAME THREAD ARG0 ARG1 ...
if [ -z "$list" ]; then
	echo "probes: could not read FLUX_PROBES from rt/probe_list.h with $CC -E"
	exit 1
fi
n=$(printf '%s\n' "$list" | wc -l)

PROBE_LIST=$list awk -v docs="docs/latency.md" '
# ---- the list: NAME THREAD ARG0 ARG1 ... a line ----------------------------------------
BEGIN {
	nprobes = split(ENVIRON["PROBE_LIST"], lines, "\n")
	for (k = 1; k <= nprobes; k++) {
		nw = split(lines[k], w, " ")
		name = w[1]
		order[k] = name
		thread[name] = "flux-" w[2]
		nargs[name] = nw - 2
		args[name] = ""
		for (i = 3; i <= nw; i++)
			args[name] = args[name] (i > 3 ? ", " : "") w[i]
	}
}
function bad(msg) {
	printf "probes: %s:%d: %s\n", FILENAME, FNR, msg
	nbad++
}
function known(p) { return p in nargs }
# Arguments of "a, b (remark, (nested)), c" without the remarks: "a, b, c".
function bare(s,   out, depth, i, c) {
	out = ""; depth = 0
	for (i = 1; i <= length(s); i++) {
		c = substr(s, i, 1)
		if (c == "(") depth++
		else if (c == ")") depth--
		else if (depth == 0) out = out c
	}
	gsub(/[ \t]+/, " ", out); gsub(/ ,/, ",", out); sub(/^ /, "", out); sub(/ $/, "", out)
	return out
}
# ---- bpf/*.bt --------------------------------------------------------------------------
FNR == 1 { inhead = 0; head = ""; nblock = 0; headdone = 0 }
FILENAME ~ /\.bt$/ {
	line = $0
	# The opening comment, joined: its NAME(args) signatures are checked at its end.
	if (!headdone && line ~ /^\/\*/) inhead = 1
	if (inhead) {
		t = line; sub(/^[ \/]*\*+ ?/, "", t); head = head " " t
		if (line ~ /\*\//) {
			inhead = 0; headdone = 1
			while (match(head, /[a-z_0-9]+\([^()]*\)/)) {
				sig = substr(head, RSTART, RLENGTH); head = substr(head, RSTART + RLENGTH)
				p = sig; sub(/\(.*/, "", p)
				a = sig; sub(/^[^(]*\(/, "", a); sub(/\)$/, "", a); gsub(/[ \t]+/, " ", a)
				if (known(p) && a != args[p])
					bad("comment says " p "(" a "), rt/probe_list.h has " p "(" args[p] ")")
			}
		}
		next
	}
	# A probe header (column 0): usdt:PATH:flux:NAME[, ...]; its block runs to a "}".
	if (line ~ /^usdt:/) {
		nblock = 0; minargs = 99; named = 0
		rest = line
		while (match(rest, /usdt:[^:, \t]*:[a-z_0-9*]+:[A-Za-z_0-9*]+/)) {
			spec = substr(rest, RSTART, RLENGTH); rest = substr(rest, RSTART + RLENGTH)
			split(spec, part, ":")
			prov = part[3]; p = part[4]; named++
			if (prov != "flux") { bad("provider " prov " in " spec ": fluxd has only flux"); continue }
			if (p ~ /\*/) continue
			if (!known(p)) { bad("no probe " p " in rt/probe_list.h (" spec ")"); continue }
			block[++nblock] = p
			if (nargs[p] < minargs) minargs = nargs[p]
		}
		if (!named) bad("a usdt probe that names no provider:probe: " line)
	}
	if (nblock) {
		rest = line
		while (match(rest, /arg[0-9]+/)) {
			k = substr(rest, RSTART + 3, RLENGTH - 3) + 0; rest = substr(rest, RSTART + RLENGTH)
			if (k >= minargs) {
				names = block[1]; for (i = 2; i <= nblock; i++) names = names ", " block[i]
				bad("arg" k " of " names ": it has " minargs " argument(s)")
			}
		}
		if (line ~ /^}/) nblock = 0
	}
	next
}
# ---- bpf/fluxtrace.bpf.c: BPF_USDT(name, type arg, ...) --------------------------------
FILENAME ~ /\.bpf\.c$/ {
	if (!inusdt && $0 ~ /BPF_USDT\(/) { inusdt = 1; usdt = ""; usdtline = FNR }
	if (inusdt) {
		usdt = usdt " " $0
		if ($0 ~ /\)/) {
			inusdt = 0
			sub(/.*BPF_USDT\(/, "", usdt); sub(/\).*/, "", usdt)
			cnt = split(usdt, piece, ",")
			p = piece[1]; gsub(/[ \t]/, "", p)
			a = ""
			for (i = 2; i <= cnt; i++) {
				word = piece[i]; sub(/[ \t]+$/, "", word); sub(/.*[ \t*]/, "", word)
				a = a (i > 2 ? ", " : "") word
			}
			if (!known(p)) bad("BPF_USDT(" p ", ...): no probe " p " in rt/probe_list.h")
			else if (a != args[p])
				bad("BPF_USDT(" p ", " a "): rt/probe_list.h has (" args[p] ")")
			if (p in hasprog) bad("BPF_USDT(" p ", ...) a second time")
			hasprog[p] = 1
		}
	}
	next
}
# ---- markdown ------------------------------------------------------------------------
{
	line = $0
	# A probe table row: | `name` | flux-THREAD | arguments (remarks) |
	if (line ~ /^\| `[a-z_0-9]+` \| flux-[a-z]+ \|/) {
		nc = split(line, cell, "|")
		p = cell[2]; gsub(/[ `]/, "", p)
		th = cell[3]; gsub(/ /, "", th)
		a = cell[4]; for (i = 5; i < nc; i++) a = a "|" cell[i]
		a = bare(a)
		if (!known(p)) bad("probe table: no probe " p " in rt/probe_list.h")
		else {
			if (th != thread[p]) bad("probe table: " p " fires on " thread[p] ", not " th)
			if (a != args[p]) bad("probe table: " p "(" a "), rt/probe_list.h has (" args[p] ")")
			if (FILENAME == docs) inrow[p]++
		}
	}
	# A latency table (| latency | from | to |): its from and to cells name probes.
	if (line ~ /^\| *latency *\| *from *\| *to *\|/) { inlat = 1; next }
	if (inlat && line !~ /^\|/) inlat = 0
	if (inlat && line !~ /^\| *-/) {
		split(line, cell, "|")
		for (c = 3; c <= 4; c++) {
			rest = cell[c]
			while (match(rest, /`[^`]*`/)) {
				p = substr(rest, RSTART + 1, RLENGTH - 2); rest = substr(rest, RSTART + RLENGTH)
				if (!known(p)) bad("latency table: `" p "` is not a probe of rt/probe_list.h")
			}
		}
	}
	# flux:NAME or usdt:PATH:flux:NAME in the text (flux:flux is the system user and group).
	rest = line
	while (match(rest, /(usdt:[^: `]*:)?flux:[a-z_0-9]+/)) {
		spec = substr(rest, RSTART, RLENGTH); rest = substr(rest, RSTART + RLENGTH)
		p = spec; sub(/.*flux:/, "", p)
		if (!known(p) && spec != "flux:flux") bad(spec ": no probe " p " in rt/probe_list.h")
	}
}
END {
	for (i = 1; i <= nprobes; i++) {
		p = order[i]
		if (!(p in hasprog)) {
			printf "probes: bpf/fluxtrace.bpf.c: no BPF_USDT(%s, ...) program\n", p
			nbad++
		}
		if (inrow[p] != 1) {
			printf "probes: %s: %d rows for probe %s in its probe table, want 1\n", docs,
			    inrow[p], p
			nbad++
		}
	}
	exit nbad ? 1 : 0
}' bpf/*.bt bpf/fluxtrace.bpf.c docs/*.md README.md bpf/README.md
status=$?
[ $status = 0 ] && echo "probes: $n probes of rt/probe_list.h;" \
	"bpf/*.bt, fluxtrace.bpf.c and docs/ name them as listed"
exit $status
