#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The Modbus TCP load matrix: modbus_srv on loopback, then modbus_load with each client
# (raw-uring: the kernel's floor; flux: the engine; libmodbus with a thread per connection
# and from one thread) over 1..1000 connections, read and write, and the time to poll N
# devices once. Clients run interleaved and repeated (the median run by req/s is reported),
# because this VM's speed drifts within minutes. Every JSON line goes to
# bench/results/load.jsonl; a table with the ratios and the issue's targets follows.
#
#   BUILD=build bench/run-load.sh     # about 3-4 min;  QUICK=1: under a minute
set -u

BUILD=${BUILD:-build}
QUICK=${QUICK:-0}
SRV=$BUILD/bench/modbus_srv
LOAD=$BUILD/bench/modbus_load
RESULTS=bench/results
OUT=$RESULTS/load.jsonl
IMPLS="raw-uring flux libmodbus-threads libmodbus-single"
RUN_TIMEOUT=120 # seconds, per modbus_load run

if [ "$QUICK" = 1 ]; then
	CONNS="1 100"
	REPEAT=3
	BATCHES=20
	BUDGET=50 # seconds for the load matrix; runs past it are skipped and named
	declare -A REQS=([1]=5000 [100]=50000)
else
	CONNS="1 10 100 1000"
	REPEAT=3
	BATCHES=50
	BUDGET=240
	declare -A REQS=([1]=20000 [10]=50000 [100]=100000 [1000]=100000)
fi
POLL_N="10 100 1000"
MAX_ADDRS=1000

for b in "$SRV" "$LOAD"; do
	if [ ! -x "$b" ]; then
		echo "run-load: $b not built (make $b)" >&2
		exit 1
	fi
done
mkdir -p "$RESULTS"
: >"$OUT"

# ---- the server -------------------------------------------------------------------------

SRV_OUT=$(mktemp)
SRV_PID=
cleanup() {
	if [ -n "$SRV_PID" ]; then
		kill "$SRV_PID" 2>/dev/null
		wait "$SRV_PID" 2>/dev/null
	fi
	rm -f "$SRV_OUT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# How busy the machine is before we start (other jobs skew every number).
read -r _ u n s i w q sq st _ </proc/stat
sleep 0.5
read -r _ u2 n2 s2 i2 w2 q2 sq2 st2 _ </proc/stat
busy=$(((u2 + n2 + s2 + q2 + sq2 + st2) - (u + n + s + q + sq + st)))
total=$((busy + (i2 + w2) - (i + w)))
busy_pct=$((total > 0 ? 100 * busy / total : 0))
echo "run-load: $(nproc) CPUs, kernel $(uname -r), CPU busy before start: ${busy_pct}%"
if [ "$busy_pct" -gt 10 ]; then
	echo "run-load: WARNING: the machine is busy; absolute numbers and ratios are noisy"
fi

"$SRV" --addrs $MAX_ADDRS --port 0 --duration 900 >"$SRV_OUT" &
SRV_PID=$!
PORT=
for _ in $(seq 50); do
	PORT=$(sed -n 's/^port=\([0-9]*\)$/\1/p' "$SRV_OUT" | head -1)
	[ -n "$PORT" ] && break
	sleep 0.1
done
if [ -z "$PORT" ]; then
	echo "run-load: modbus_srv did not start" >&2
	exit 1
fi
echo "run-load: modbus_srv on 127.0.0.1..+$((MAX_ADDRS - 1)) port $PORT;" \
	"connection i of every client goes to 127.0.0.1+i"

# ---- the runs ---------------------------------------------------------------------------

FAILED=0
START=$SECONDS

# run ARGS...: one modbus_load run; its JSON line goes to $OUT.
run() {
	local line rc
	line=$(timeout $RUN_TIMEOUT "$LOAD" --host 127.0.0.1 --port "$PORT" "$@")
	rc=$?
	if [ $rc -ne 0 ] || [ -z "$line" ]; then
		echo "run-load: FAILED (exit $rc): modbus_load $*" >&2
		FAILED=$((FAILED + 1))
		return
	fi
	echo "$line" >>"$OUT"
}

echo "run-load: load matrix (conns: $CONNS; $REPEAT interleaved repeats)"
skipped=0
for conns in $CONNS; do
	for op in read write; do
		for rep in $(seq "$REPEAT"); do
			# Rotate the order each repeat so no client always runs first.
			set -- $IMPLS
			for _ in $(seq $((rep - 1))); do set -- "${@:2}" "$1"; done
			for impl in "$@"; do
				if [ $((SECONDS - START)) -ge $BUDGET ]; then
					skipped=$((skipped + 1))
					continue
				fi
				reqs=${REQS[$conns]}
				# One request at a time whatever the connection count: latency-bound,
				# so a quarter of the requests gives the same numbers in less time.
				if [ "$impl" = libmodbus-single ] && [ "$conns" -ge 10 ]; then
					reqs=$((reqs / 4))
				fi
				run --conns "$conns" --requests "$reqs" --op "$op" --impl "$impl"
			done
		done
	done
done
if [ $skipped -gt 0 ]; then
	echo "run-load: time budget (${BUDGET} s) spent: $skipped runs skipped"
fi

echo "run-load: poll-once N = $POLL_N ($BATCHES batches each)"
for n in $POLL_N; do
	for impl in raw-uring flux libmodbus; do
		run --poll-once "$n" --batches "$BATCHES" --impl "$impl"
	done
done
echo "run-load: $(wc -l <"$OUT") results in $OUT after $((SECONDS - START)) s"

# ---- the table --------------------------------------------------------------------------

awk '
function getf(line, name,    s) {
	if (!match(line, "\"" name "\":\"?[^,}\"]*"))
		return ""
	s = substr(line, RSTART, RLENGTH)
	sub(/^"[^"]*":"?/, "", s)
	return s
}
# The median run (by req/s, or by p50 for poll-once) of each key.
function median(key,    n, i, j, t, idx) {
	n = cnt[key]
	for (i = 1; i <= n; i++)
		idx[i] = i
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && val[key, idx[j - 1]] > val[key, idx[j]]; j--) {
			t = idx[j]; idx[j] = idx[j - 1]; idx[j - 1] = t
		}
	return rec[key, idx[int((n + 1) / 2)]]
}
function ratio(a, b) {
	return (b + 0 > 0) ? sprintf("%.2f", a / b) : "-"
}
{
	if (getf($0, "mode") == "poll-once") {
		key = "poll|" getf($0, "impl") "|" getf($0, "devices")
		v = getf($0, "p50_us")
	} else {
		key = getf($0, "op") "|" getf($0, "conns") "|" getf($0, "impl")
		v = getf($0, "req_per_s")
	}
	cnt[key]++
	val[key, cnt[key]] = v + 0
	rec[key, cnt[key]] = $0
	keys[key] = 1
}
END {
	nimpl = split("raw-uring flux libmodbus-threads libmodbus-single", impls, " ")
	nconn = split(conns_list, cl, " ")
	printf "\n%-5s %5s %-17s %8s %8s %8s %8s %8s %7s | %7s %7s %7s %7s\n", "op",
	       "conns", "impl", "req/s", "p50us", "p99us", "p999us", "maxus", "cpu/req",
	       "r/s:flr", "r/s:lmt", "cpu:flr", "p50:flr"
	for (o = 1; o <= 2; o++) {
		op = o == 1 ? "read" : "write"
		for (c = 1; c <= nconn; c++) {
			fk = op "|" cl[c] "|raw-uring"
			tk = op "|" cl[c] "|libmodbus-threads"
			fl = (fk in keys) ? median(fk) : ""
			tl = (tk in keys) ? median(tk) : ""
			for (k = 1; k <= nimpl; k++) {
				key = op "|" cl[c] "|" impls[k]
				if (!(key in keys))
					continue
				m = median(key)
				rps = getf(m, "req_per_s"); p50 = getf(m, "p50_us")
				cpu = getf(m, "cpu_us_per_req")
				printf "%-5s %5s %-17s %8s %8s %8s %8s %8s %7s | %7s %7s %7s %7s\n",
				       op, cl[c], impls[k], rps, p50, getf(m, "p99_us"),
				       getf(m, "p999_us"), getf(m, "max_us"), cpu,
				       ratio(rps, getf(fl, "req_per_s")),
				       ratio(rps, getf(tl, "req_per_s")),
				       ratio(cpu, getf(fl, "cpu_us_per_req")),
				       ratio(p50, getf(fl, "p50_us"))
				if (impls[k] == "flux") {
					fx_rps[op, cl[c]] = ratio(rps, getf(fl, "req_per_s"))
					fx_cpu[op, cl[c]] = ratio(cpu, getf(fl, "cpu_us_per_req"))
					fx_p50[op, cl[c]] = ratio(p50, getf(fl, "p50_us"))
				}
			}
		}
	}
	printf "\n(median of the repeats by req/s; r/s:flr, cpu:flr, p50:flr = flux or libmodbus " \
	       "over the raw-uring floor; r/s:lmt = over libmodbus-threads)\n"

	printf "\ntargets (issue 4):\n"
	for (o = 1; o <= 2; o++) {
		op = o == 1 ? "read" : "write"
		if ((op, 100) in fx_rps) {
			printf "  %-5s 100 conns: req/s %s x floor (>= 0.90): %s\n", op,
			       fx_rps[op, 100], (fx_rps[op, 100] >= 0.90 ? "holds" : "MISSED")
			printf "  %-5s 100 conns: cpu/req %s x floor (<= 1.20): %s\n", op,
			       fx_cpu[op, 100], (fx_cpu[op, 100] <= 1.20 ? "holds" : "MISSED")
		}
		if ((op, 1) in fx_p50)
			printf "  %-5s   1 conn:  p50 %s x floor (<= 1.15): %s\n", op,
			       fx_p50[op, 1], (fx_p50[op, 1] <= 1.15 ? "holds" : "MISSED")
	}

	np = split(poll_list, pl, " ")
	printf "\npoll-once: time to read N devices once (us)\n"
	printf "%6s %-10s %9s %9s %9s %12s\n", "N", "impl", "p50", "p99", "max", "p50:libmodbus"
	for (i = 1; i <= np; i++) {
		lk = "poll|libmodbus|" pl[i]
		ll = (lk in keys) ? median(lk) : ""
		split("raw-uring flux libmodbus", pimpl, " ")
		for (k = 1; k <= 3; k++) {
			key = "poll|" pimpl[k] "|" pl[i]
			if (!(key in keys))
				continue
			m = median(key)
			printf "%6s %-10s %9s %9s %9s %12s\n", pl[i], pimpl[k], getf(m, "p50_us"),
			       getf(m, "p99_us"), getf(m, "max_us"),
			       ratio(getf(m, "p50_us"), getf(ll, "p50_us"))
		}
	}
}' conns_list="$CONNS" poll_list="$POLL_N" "$OUT"

if [ $FAILED -gt 0 ]; then
	echo "run-load: $FAILED runs failed (see above)"
	exit 1
fi
exit 0
