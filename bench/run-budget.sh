#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The latency budget: fluxd (SCHED_FIFO, pinned) against `flux sim` on loopback with 1, 10
# and 100 BESS (+ one meter per ten BESS, at least one) at cycle periods of 100, 10 and 1 ms,
# each with and without `stress-ng --cpu 1` on the other core, and cyclictest right after
# each fluxd run at the same period, priority and CPU, under the same load, as the jitter
# floor. Then fluxd's resource figures (RSS, CPU per 1,000 cycles, syscalls per cycle) at 100
# devices (10 ms) and at 1,000 devices (990 BESS + 10 meters over 21 `flux sim` processes, at
# 100 ms and at 10 ms). Last, fluxtrace's overhead: one site (10 BESS + 1 meter, 10 ms), fluxd
# run three times back to back: untraced, traced from its start (`fluxtrace --exec`), and
# attached to while running (`fluxtrace --pid`) (root and BTF, else skipped with the reason
# recorded); fluxd's own percentiles (cycle jitter, soe_read, setpoint_write, rtt) and CPU per
# 1,000 cycles compared. One JSON line per run goes to
# bench/results/budget.jsonl; bench/report.py turns it into tables and plots.
#
# The one idea: every number comes from the processes themselves (`flux status --json` at
# the end of the window, cyclictest's histogram, /proc, perf); this script only places
# processes on CPUs, waits, and writes down what they said.
#
#   BUILD=build bench/run-budget.sh     # about 6 min;  QUICK=1: about a minute
set -u

BUILD=${BUILD:-build}
QUICK=${QUICK:-0}
FLUX=$BUILD/bin/flux
FLUXD=$BUILD/bin/fluxd
FLUXTRACE=$BUILD/bin/fluxtrace
RESULTS=bench/results
OUT=$RESULTS/budget.jsonl
CYCLICTEST=${CYCLICTEST:-cyclictest}
IO_PRIO=81   # fluxd's defaults (control/config.h); cyclictest runs at CTL_PRIO
CTL_PRIO=80
SIM_CHUNK=48 # devices per flux sim process (each holds at most SIM_MAX_CONNS = 64 clients)
CT_HIST_US=20000

if [ "$QUICK" = 1 ]; then
	SIZES="1 10"
	PERIODS="100 10"
	declare -A WINDOW=([100]=2 [10]=1.5 [1]=1.5) # seconds of fluxd, then of cyclictest
	RES_WINDOW=1.5
	BIG_WINDOW=2      # seconds of the 1,000-device resource runs
	TRACE_WINDOW=2.5  # seconds of each fluxtrace-overhead run
	BUDGET=40 # seconds for the budget matrix; runs past it are skipped and named
else
	SIZES="1 10 100"
	PERIODS="100 10 1"
	declare -A WINDOW=([100]=6 [10]=4 [1]=3)
	RES_WINDOW=3
	BIG_WINDOW=6
	TRACE_WINDOW=8
	BUDGET=270
fi
RES_PERIOD=10
BIG_BESS=990 # the 1,000-device site: 990 BESS + 10 meters
BIG_METERS=10
TRACE_PERIOD=10
NOFILE=8192 # fluxd holds a socket per device; each flux sim a listener + a client per device
NCPU=$(nproc)
RT_CPU=$((NCPU - 1)) # fluxd's I/O and control threads, and cyclictest
OTHER_CPU=0          # flux sim and stress-ng
LOADS="none stress"
if [ "$NCPU" -lt 2 ]; then
	LOADS="none" # no other core to load
fi

say() { echo "run-budget: $*"; }

for b in "$FLUX" "$FLUXD"; do
	if [ ! -x "$b" ]; then
		say "$b not built (make $b)" >&2
		exit 1
	fi
done
HAS_CT=1
command -v "$CYCLICTEST" >/dev/null || HAS_CT=0
HAS_STRESS=1
command -v stress-ng >/dev/null || HAS_STRESS=0
SYSCALL_TOOL=none
if command -v perf >/dev/null && perf stat -e raw_syscalls:sys_enter -- true >/dev/null 2>&1; then
	SYSCALL_TOOL=perf
elif command -v strace >/dev/null; then
	SYSCALL_TOOL=strace
fi
mkdir -p "$RESULTS"
: >"$OUT"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $NOFILE ]; then
	ulimit -n $NOFILE 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
fi
TMP=$(mktemp -d /tmp/flux-budget.XXXXXX)
SOCK=$TMP/fluxd.sock

# ---- processes: every one started here is killed on exit, by its pid -------------------

SIM_PIDS=""
FLUXD_PID=""
STRESS_PID=""
AUX_PID=""
# stop_pid PID: SIGTERM, up to 5 s to go, then SIGKILL.
stop_pid() {
	local pid=$1 i
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || return 0
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}
stop_sims() {
	local p
	for p in $SIM_PIDS; do stop_pid "$p"; done
	SIM_PIDS=""
}
TRACE_PID=""
cleanup() {
	stop_pid "$TRACE_PID"
	stop_pid "$AUX_PID"
	stop_pid "$FLUXD_PID"
	stop_pid "$STRESS_PID"
	stop_sims
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- helpers ----------------------------------------------------------------------------

# start_sims NBESS NMETERS: serve them on free loopback ports (the kernel picks, flux sim
# prints them), SIM_CHUNK devices per process on OTHER_CPU at nice -10, so that they stand
# in for remote hardware that answers promptly whatever else that core runs. Fills PORTS.
PORTS=()
start_sims() {
	local nbess=$1 nmeters=$2 total=$(($1 + $2)) first=0 n i k log args pid
	PORTS=()
	while [ $first -lt $total ]; do
		n=$((total - first < SIM_CHUNK ? total - first : SIM_CHUNK))
		args=()
		for ((i = first; i < first + n; i++)); do
			if [ $i -lt "$nbess" ]; then
				args+=(powerpack --port 0 --unit 1 --startup-ms 0)
			else
				args+=(acuvim2 --port 0 --unit 1)
			fi
		done
		log=$TMP/sim-$first.log
		nice -n -10 taskset -c $OTHER_CPU "$FLUX" sim --duration 1800 "${args[@]}" \
			>"$log" 2>&1 &
		pid=$!
		SIM_PIDS="$SIM_PIDS $pid"
		for k in $(seq 100); do
			grep -q "flux sim: serving" "$log" && break
			kill -0 $pid 2>/dev/null || break
			sleep 0.05
		done
		if ! grep -q "flux sim: serving" "$log"; then
			say "flux sim did not start:" >&2
			cat "$log" >&2
			return 1
		fi
		# One line per device, in the order given: "... unit 1 on 127.0.0.1:PORT ...".
		PORTS+=($(sed -n 's/^flux sim: .* unit 1 on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log"))
		first=$((first + n))
	done
	if [ ${#PORTS[@]} -ne "$total" ]; then
		say "expected $total sim ports, got ${#PORTS[@]}" >&2
		return 1
	fi
}

# write_config FILE NBESS NMETERS PERIOD_MS: manual strategy at 10 kW per BESS, so every
# BESS gets written; heartbeat 100 ms (10 ms at a 1 ms cycle) so writes recur all run long.
write_config() {
	local f=$1 nbess=$2 nmeters=$3 p=$4 hb i
	hb=$((p >= 100 ? p : (p >= 10 ? 100 : 10 * p)))
	{
		echo "site:"
		echo "  cycle: ${p}ms"
		echo "  heartbeat: ${hb}ms"
		echo "  strategy: {mode: manual, setpoint_kw: $((10 * nbess))}"
		echo "rt: {io_cpu: $RT_CPU, control_cpu: $RT_CPU, io_priority: $IO_PRIO," \
			"control_priority: $CTL_PRIO}"
		echo "devices:"
		echo "  bess:"
		for ((i = 0; i < nbess; i++)); do
			echo "    - {id: b$i, name: b$i, type: powerpack," \
				"modbus: {host: 127.0.0.1, port: ${PORTS[$i]}, address: 1}}"
		done
		if [ "$nmeters" -gt 0 ]; then
			echo "  meters:"
			for ((i = 0; i < nmeters; i++)); do
				echo "    - {id: m$i, name: m$i, type: acuvim2," \
					"modbus: {host: 127.0.0.1, port: ${PORTS[$((nbess + i))]}, address: 1}}"
			done
		fi
	} >"$f"
	HEARTBEAT_MS=$hb
}

status_json() {
	"$FLUX" status --socket "$SOCK" --json --timeout 2000 2>/dev/null
}

# start_fluxd CONFIG: start it (bounded by --duration) and wait, at most 15 s (30 s for
# sites over 500 devices), until control is live (every input fresh once). Returns 0, or 1
# with the reason in FAIL. launch_fluxd and wait_fluxd_live are its two halves.
start_fluxd() {
	launch_fluxd "$1" && wait_fluxd_live
}
launch_fluxd() {
	rm -f "$SOCK"
	"$FLUXD" -c "$1" --status-socket "$SOCK" --status-interval 0 --duration 600 \
		>"$TMP/fluxd.log" 2>&1 &
	FLUXD_PID=$!
}
wait_fluxd_live() {
	local i s n=150
	[ ${#PORTS[@]} -le 500 ] || n=300
	for i in $(seq $n); do
		if ! kill -0 "$FLUXD_PID" 2>/dev/null; then
			FAIL="fluxd exited: $(tail -1 "$TMP/fluxd.log")"
			FLUXD_PID=""
			return 1
		fi
		s=$(status_json)
		case $s in *'"has_started":true'*) return 0 ;; esac
		sleep 0.1
	done
	FAIL="control not live after $((n / 10)) s"
	return 1
}

# status_summary: flux status --json on stdin -> its site-wide figures on stdout (cycles,
# overruns, devices fresh, setpoint writes, latency_ns), one line; "null" if it is not JSON.
# The per-device lists stay out: at 1,000 devices they are half a megabyte.
status_summary() {
	python3 -c '
import json, sys
try:
    s = json.loads(sys.stdin.read())
except ValueError:
    print("null"); sys.exit(0)
devs = s.get("bess", []) + s.get("meters", [])
print(json.dumps({"cycles": s.get("cycles"), "overruns": s.get("overruns"),
                  "has_started": s.get("has_started"), "devices": len(devs),
                  "fresh": sum(1 for d in devs if d.get("is_fresh")),
                  "writes": sum(b.get("writes", 0) for b in s.get("bess", [])),
                  "latency_ns": s.get("latency_ns")}, separators=(",", ":")))'
}

# The scheduling of fluxd's threads, as the kernel reports it: "flux-io FIFO 81 cpus 1; ...".
# /proc/PID/task/TID/stat after "(comm) ": field 40 rt_priority is $38, 41 policy is $39.
fluxd_threads() {
	local t
	for t in /proc/"$FLUXD_PID"/task/*; do
		printf '%s %s cpus %s; ' "$(cat "$t"/comm)" \
			"$(sed 's/^.*) //' "$t"/stat | awk '{ split("OTHER FIFO RR BATCH ISO IDLE", n, " ");
				print n[$39 + 1], $38 }')" \
			"$(taskset -cp "${t##*/}" 2>/dev/null | sed 's/.*: //')"
	done 2>/dev/null
}

# Log lines of the control thread's trouble events, as counts.
fluxd_events() {
	local l=$TMP/fluxd.log
	printf '{"stale":%d,"write_refused":%d,"overrun":%d}' "$(grep -c ': stale' "$l")" \
		"$(grep -c 'not accepted' "$l")" "$(grep -c 'cycle overrun' "$l")"
}

# run_cyclictest PERIOD_MS SECONDS: the floor, as a JSON object on stdout ("null" if none).
# cyclictest does not touch /dev/cpu_dma_latency (--laptop), as fluxd does not either.
run_cyclictest() {
	local p_us=$(($1 * 1000)) loops
	loops=$(awk -v s="$2" -v p="$1" 'BEGIN { printf "%d", s * 1000 / p }')
	if [ $HAS_CT = 0 ]; then
		echo null
		return
	fi
	timeout 120 "$CYCLICTEST" -m -q --laptop -t1 -p$CTL_PRIO -a$RT_CPU -i$p_us -l"$loops" \
		-h $CT_HIST_US >"$TMP/ct.out" 2>&1
	# Bin k holds [k, k+1) us; a percentile is its bin's middle, as in bench_rt_cycle.
	awk -v period_us=$p_us -v hmax=$CT_HIST_US '
	/^[0-9]+[ \t]+[0-9]+/ { if ($2 > 0) { bin[$1 + 0] = $2; n++ ; total += $2 }; next }
	/# Max Latencies:/ { max = $4 + 0 }
	/# Min Latencies:/ { min = $4 + 0 }
	/# Avg Latencies:/ { avg = $4 + 0 }
	/# Histogram Overflows:/ { ovf = $4 + 0 }
	function pct(p,    rank, seen, k) {
		rank = p / 100 * count; rank = (rank == int(rank)) ? rank : int(rank) + 1
		if (rank < 1) rank = 1
		seen = 0
		for (k = 0; k < hmax; k++) if (k in bin) { seen += bin[k]; if (seen >= rank) return (k + 0.5 > max ? max : k + 0.5) }
		return max
	}
	END {
		count = total + ovf
		if (count == 0) { print "null"; exit }
		printf "{\"period_us\":%d,\"count\":%d,\"overflows\":%d,\"min_us\":%d,\"avg_us\":%d,", \
			period_us, count, ovf, min, avg
		printf "\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%d,\"hist\":[", \
			pct(50), pct(99), pct(99.9), max
		sep = ""
		for (k = 0; k < hmax; k++) if (k in bin) { printf "%s[%d,%d]", sep, k, bin[k]; sep = "," }
		printf "]}\n"
	}' "$TMP/ct.out"
}

start_stress() {
	STRESS_PID=""
	if [ "$1" != stress ]; then
		return 0
	fi
	if [ $HAS_STRESS = 0 ]; then
		FAIL="stress-ng not installed"
		return 1
	fi
	taskset -c $OTHER_CPU stress-ng --cpu 1 --timeout 300s --quiet >/dev/null 2>&1 &
	STRESS_PID=$!
	sleep 0.3
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# ---- the budget runs --------------------------------------------------------------------

START=$SECONDS
SKIPPED=""
FAILED=0
RAN=0
say "$NCPU CPUs, kernel $(uname -r); fluxd io+control on CPU $RT_CPU (SCHED_FIFO" \
	"$IO_PRIO/$CTL_PRIO), flux sim and stress-ng on CPU $OTHER_CPU; load average $(loadavg)"
[ "$(id -u)" = 0 ] || say "WARNING: not root: fluxd and cyclictest cannot use SCHED_FIFO"
[ $HAS_CT = 1 ] || say "WARNING: cyclictest not found (Debian rt-tests): no jitter floor"
[ $HAS_STRESS = 1 ] || say "WARNING: stress-ng not found: loaded runs fail"

# budget_case NBESS NMETERS PERIOD LOAD: one fluxd window, then cyclictest; one JSON line.
budget_case() {
	local nbess=$1 nmeters=$2 p=$3 load=$4 w=${WINDOW[$3]} st="null" ct="null" threads="" \
		ev="null" la
	FAIL=""
	la=$(loadavg)
	write_config "$TMP/site.yaml" "$nbess" "$nmeters" "$p"
	if start_stress "$load" && start_fluxd "$TMP/site.yaml"; then
		threads=$(fluxd_threads)
		sleep "$w"
		st=$(status_json)
		[ -n "$st" ] || { st="null"; FAIL="no answer from flux status"; }
		stop_pid "$FLUXD_PID"
		FLUXD_PID=""
		ev=$(fluxd_events)
		ct=$(run_cyclictest "$p" "$w")
	else
		stop_pid "$FLUXD_PID"
		FLUXD_PID=""
	fi
	stop_pid "$STRESS_PID"
	STRESS_PID=""
	[ -z "$FAIL" ] || { FAILED=$((FAILED + 1)); say "FAILED: $nbess BESS, $p ms, $load: $FAIL"; }
	RAN=$((RAN + 1))
	printf '{"kind":"budget","bess":%d,"meters":%d,"period_ms":%d,"load":"%s","window_s":%s,' \
		"$nbess" "$nmeters" "$p" "$load" "$w" >>"$OUT"
	printf '"heartbeat_ms":%d,"rt_cpu":%d,"other_cpu":%d,"io_priority":%d,' \
		"$HEARTBEAT_MS" $RT_CPU $OTHER_CPU $IO_PRIO >>"$OUT"
	printf '"control_priority":%d,"loadavg":"%s","fluxd_threads":"%s","error":%s,' \
		$CTL_PRIO "$la" "${threads%; }" "$([ -z "$FAIL" ] && echo null || echo "\"$FAIL\"")" \
		>>"$OUT"
	printf '"events":%s,"status":%s,"cyclictest":%s}\n' "$ev" "$st" "$ct" >>"$OUT"
	say "$(printf '%3d BESS + %2d meters  %3d ms  load %-6s' "$nbess" "$nmeters" "$p" "$load")" \
		"$(echo "$st" | grep -o '"cycles":[0-9]*,"overruns":[0-9]*' | tr -d '"')" \
		"$(echo "$ct" | grep -o '"p999_us":[0-9.]*' | tr -d '"' | sed 's/^/cyclictest /')"
}

say "budget: BESS $SIZES x period $PERIODS ms x load {$LOADS}"
for nbess in $SIZES; do
	nmeters=$((nbess / 10 > 0 ? nbess / 10 : 1))
	if ! start_sims "$nbess" $((nmeters)); then
		FAILED=$((FAILED + 1))
		stop_sims
		continue
	fi
	for p in $PERIODS; do
		for load in $LOADS; do
			if [ $((SECONDS - START)) -ge $BUDGET ]; then
				SKIPPED="$SKIPPED ${nbess}bess/${p}ms/$load"
				continue
			fi
			budget_case "$nbess" "$nmeters" "$p" "$load"
		done
	done
	stop_sims
done

# ---- resources: 100 devices and the largest site --------------------------------------

# cpu_ticks PID [TID]: utime + stime in clock ticks (/proc/PID/stat fields 14 and 15).
cpu_ticks() {
	local f=/proc/$1/stat
	[ -n "${2:-}" ] && f=/proc/$1/task/$2/stat
	sed 's/^.*) //' "$f" 2>/dev/null | awk '{ print $12 + $13 }'
}
cycles_of() { echo "$1" | grep -o '"cycles":[0-9]*' | head -1 | cut -d: -f2; }

# resource_case NBESS NMETERS PERIOD_MS WINDOW_S [keep]: fluxd, no background load. The sims
# are started here unless "keep" says the ones running serve this site already.
resource_case() {
	local nbess=$1 nmeters=$2 period=$3 window=$4 s1 s2 c1 c2 t1 t2 rss hwm sc="null" \
		threads="" ttk="" t tid st2="" summ="null" t0=$SECONDS nsims
	FAIL=""
	if [ "${5:-}" != keep ] && ! start_sims "$nbess" "$nmeters"; then
		FAILED=$((FAILED + 1))
		stop_sims
		return
	fi
	nsims=$(echo $SIM_PIDS | wc -w)
	write_config "$TMP/site.yaml" "$nbess" "$nmeters" "$period"
	if start_fluxd "$TMP/site.yaml"; then
		sleep 1 # connections settled, claims done
		threads=$(fluxd_threads)
		declare -A tk1=()
		for t in /proc/"$FLUXD_PID"/task/*; do tk1[${t##*/}]=$(cpu_ticks "$FLUXD_PID" "${t##*/}"); done
		c1=$(cycles_of "$(status_json)")
		t1=$(cpu_ticks "$FLUXD_PID")
		case $SYSCALL_TOOL in
		perf)
			perf stat --per-thread -x, -e raw_syscalls:sys_enter -p "$FLUXD_PID" \
				-o "$TMP/perf.out" -- sleep "$window" >/dev/null 2>&1
			# "flux-io-1234,830,,raw_syscalls:sys_enter,..." -> "flux-io":830
			sc=$(awk -F, '/raw_syscalls/ { name = $1; sub(/-[0-9]+$/, "", name);
				n[name] += $2 } END { printf "{"; s = "";
				for (k in n) { printf "%s\"%s\":%d", s, k, n[k]; s = "," } printf "}" }' \
				"$TMP/perf.out")
			;;
		strace)
			timeout -s INT "$window" strace -c -f -p "$FLUXD_PID" -o "$TMP/strace.out" \
				>/dev/null 2>&1
			sc=$(awk '$NF == "total" { printf "{\"process\":%d}", $(NF-2) }' "$TMP/strace.out")
			[ -n "$sc" ] || sc="null"
			;;
		*) sleep "$window" ;;
		esac
		t2=$(cpu_ticks "$FLUXD_PID")
		st2=$(status_json)
		c2=$(cycles_of "$st2")
		summ=$(echo "$st2" | status_summary)
		for t in /proc/"$FLUXD_PID"/task/*; do
			tid=${t##*/}
			ttk="$ttk\"$(cat "$t"/comm)\":$(($(cpu_ticks "$FLUXD_PID" "$tid") - ${tk1[$tid]:-0})),"
		done
		rss=$(awk '/^VmRSS:/ { print $2 }' /proc/"$FLUXD_PID"/status)
		hwm=$(awk '/^VmHWM:/ { print $2 }' /proc/"$FLUXD_PID"/status)
		stop_pid "$FLUXD_PID"
		FLUXD_PID=""
		if [ -z "$c1" ] || [ -z "$c2" ] || [ -z "$t1" ] || [ -z "$t2" ]; then
			FAIL="lost track of fluxd during the window"
		fi
	else
		stop_pid "$FLUXD_PID"
		FLUXD_PID=""
	fi
	[ "${5:-}" = keep ] || stop_sims
	[ -z "$FAIL" ] || { FAILED=$((FAILED + 1)); say "FAILED: resources at $((nbess + nmeters)) devices: $FAIL"; }
	printf '{"kind":"resource","bess":%d,"meters":%d,"devices":%d,"period_ms":%d,' \
		"$nbess" "$nmeters" $((nbess + nmeters)) "$period" >>"$OUT"
	printf '"sim_processes":%d,"seconds":%d,"status":%s,' "$nsims" \
		$((SECONDS - t0)) "$summ" >>"$OUT"
	printf '"window_s":%s,"error":%s,"fluxd_threads":"%s","clk_tck":%d,' "$window" \
		"$([ -z "$FAIL" ] && echo null || echo "\"$FAIL\"")" "${threads%; }" \
		"$(getconf CLK_TCK)" >>"$OUT"
	if [ -z "$FAIL" ]; then
		printf '"cycles":%d,"cpu_ticks":%d,"thread_cpu_ticks":{%s},"rss_kb":%d,"hwm_kb":%d,' \
			$((c2 - c1)) $((t2 - t1)) "${ttk%,}" "$rss" "$hwm" >>"$OUT"
	fi
	printf '"syscall_tool":"%s","syscalls":%s}\n' "$SYSCALL_TOOL" "$sc" >>"$OUT"
	say "resources: $((nbess + nmeters)) devices at $period ms:" \
		"${FAIL:-cycles $((c2 - c1)), cpu ticks $((t2 - t1)), RSS ${rss} kB, syscalls $sc}" \
		"$(echo "$summ" | grep -o '"overruns":[0-9]*,"has_started":[a-z]*,"devices":[0-9]*,"fresh":[0-9]*' | tr -d '"')"
}

MAX_BESS=$(sed -n "s/^#define CFG_MAX_BESS[[:space:]]*\([0-9]*\).*/\1/p" control/config.h)
MAX_METERS=$(sed -n "s/^#define CFG_MAX_METERS[[:space:]]*\([0-9]*\).*/\1/p" control/config.h)
say "resources: 90 BESS + 10 meters at $RES_PERIOD ms ($RES_WINDOW s), then $BIG_BESS BESS +" \
	"$BIG_METERS meters at 100 and 10 ms ($BIG_WINDOW s; the config holds ${MAX_BESS:-?} +" \
	"${MAX_METERS:-?}), syscalls by $SYSCALL_TOOL; RLIMIT_NOFILE $(ulimit -n)"
resource_case 90 10 $RES_PERIOD "$RES_WINDOW"
if [ $((BIG_BESS + BIG_METERS)) -gt $((${MAX_BESS:-0} + ${MAX_METERS:-0})) ]; then
	say "resources: $((BIG_BESS + BIG_METERS)) devices exceed the config's maximum: skipped"
elif start_sims $BIG_BESS $BIG_METERS; then
	resource_case $BIG_BESS $BIG_METERS 100 "$BIG_WINDOW" keep
	resource_case $BIG_BESS $BIG_METERS 10 "$BIG_WINDOW" keep
	stop_sims
else
	FAILED=$((FAILED + 1))
	stop_sims
fi

# ---- fluxtrace's overhead: the same site, untraced then traced, back to back -------------

# trace_run MODE NBESS NMETERS: fluxd on the sims running, MODE "off" (untraced), "exec"
# (`fluxtrace --exec`, attached to the binary before fluxd starts: every cycle traced) or
# "pid" (`fluxtrace --pid`, attached to the running fluxd as soon as it exists: the attach
# itself happens while fluxd cycles). All then wait alike: live, 1 s settle, TRACE_WINDOW s
# measured. fluxd's percentiles are cumulative from its start; the record says how many of
# its cycles ran before fluxtrace was attached.
trace_run() {
	local mode=$1 nbess=$2 nmeters=$3 c0=null c1 c2 t1 t2 st2 summ="null" ft="null" i \
		dur want
	FAIL=""
	TRACE_PID=""
	dur=$(awk -v w="$TRACE_WINDOW" 'BEGIN { print w + 60 }') # ended by SIGINT first
	if [ "$mode" = exec ]; then
		"$FLUXTRACE" --exec "$(readlink -f "$FLUXD")" --duration "$dur" --interval 0 \
			--json >"$TMP/trace.json" 2>"$TMP/trace.err" &
		TRACE_PID=$!
		want="waiting for it to run"
	elif [ "$mode" = pid ]; then
		launch_fluxd "$TMP/site.yaml"
		# Until the shell's fork has exec'd fluxd, the pid's binary is the shell.
		for i in $(seq 50); do
			[ "$(readlink "/proc/$FLUXD_PID/exe")" = "$(readlink -f "$FLUXD")" ] && break
			sleep 0.02
		done
		"$FLUXTRACE" --pid "$FLUXD_PID" --duration "$dur" --interval 0 --json \
			>"$TMP/trace.json" 2>"$TMP/trace.err" &
		TRACE_PID=$!
		want="attached to pid"
	fi
	if [ -n "$TRACE_PID" ]; then
		for i in $(seq 150); do
			grep -q "$want" "$TMP/trace.err" && break
			kill -0 "$TRACE_PID" 2>/dev/null || break
			sleep 0.1
		done
		grep -q "$want" "$TMP/trace.err" ||
			FAIL="fluxtrace did not attach: $(tail -1 "$TMP/trace.err")"
	fi
	case $mode in
	exec) c0=0; [ -n "$FAIL" ] || launch_fluxd "$TMP/site.yaml" ;;
	pid) c0=$(cycles_of "$(status_json)"); c0=${c0:-0} ;;
	*) launch_fluxd "$TMP/site.yaml" ;;
	esac
	if [ -z "$FAIL" ] && wait_fluxd_live; then
		sleep 1
		c1=$(cycles_of "$(status_json)")
		t1=$(cpu_ticks "$FLUXD_PID")
		sleep "$TRACE_WINDOW"
		t2=$(cpu_ticks "$FLUXD_PID")
		st2=$(status_json)
		c2=$(cycles_of "$st2")
		summ=$(echo "$st2" | status_summary)
		[ -n "$c1" ] && [ -n "$c2" ] && [ -n "$t1" ] && [ -n "$t2" ] ||
			FAIL="lost track of fluxd during the window"
	fi
	if [ -n "$TRACE_PID" ]; then
		kill -INT "$TRACE_PID" 2>/dev/null # it prints its final report and exits
		for i in $(seq 50); do
			kill -0 "$TRACE_PID" 2>/dev/null || break
			sleep 0.1
		done
		stop_pid "$TRACE_PID"
		TRACE_PID=""
		ft=$(grep '"final":true' "$TMP/trace.json" | tail -1)
		[ -n "$ft" ] || { ft="null"; [ -n "$FAIL" ] || FAIL="no final report from fluxtrace"; }
	fi
	stop_pid "$FLUXD_PID"
	FLUXD_PID=""
	[ -z "$FAIL" ] || { FAILED=$((FAILED + 1)); say "FAILED: fluxtrace overhead, $mode: $FAIL"; }
	printf '{"kind":"trace","traced":%s,"attach":%s,"bess":%d,"meters":%d,"period_ms":%d,' \
		"$([ "$mode" = off ] && echo false || echo true)" \
		"$([ "$mode" = off ] && echo null || echo "\"$mode\"")" "$nbess" "$nmeters" \
		$TRACE_PERIOD >>"$OUT"
	printf '"window_s":%s,"error":%s,"clk_tck":%d,"untraced_cycles":%s,' "$TRACE_WINDOW" \
		"$([ -z "$FAIL" ] && echo null || echo "\"$FAIL\"")" "$(getconf CLK_TCK)" \
		"$([ "$mode" = off ] && echo null || echo "$c0")" >>"$OUT"
	if [ -z "$FAIL" ]; then
		printf '"cycles":%d,"cpu_ticks":%d,' $((c2 - c1)) $((t2 - t1)) >>"$OUT"
	fi
	printf '"status":%s,"fluxtrace":%s}\n' "$summ" "$ft" >>"$OUT"
	say "$(printf 'fluxtrace overhead: %-4s' "$mode")" \
		"${FAIL:-cycles $((c2 - c1)), cpu ticks $((t2 - t1)), $(echo "$summ" | grep -o '"jitter":{"p50":[0-9]*,"p99":[0-9]*,"p999":[0-9]*,"max":[0-9]*' | tr -d '"')}"
}

trace_skip() {
	say "fluxtrace overhead: skipped: $1"
	printf '{"kind":"trace","skipped":"%s"}\n' "$1" >>"$OUT"
}

say "fluxtrace overhead: 10 BESS + 1 meter at $TRACE_PERIOD ms, fluxd untraced, then traced" \
	"from its start (fluxtrace --exec), then attached to while running (--pid), $TRACE_WINDOW s each"
if [ "$(id -u)" != 0 ]; then
	trace_skip "not root: fluxtrace needs root (or CAP_BPF + CAP_PERFMON)"
elif [ ! -r /sys/kernel/btf/vmlinux ]; then
	trace_skip "no kernel BTF (/sys/kernel/btf/vmlinux): fluxtrace cannot load"
elif [ ! -x "$FLUXTRACE" ]; then
	trace_skip "$FLUXTRACE not built (clang, bpftool, libbpf-dev: make deps)"
elif start_sims 10 1; then
	write_config "$TMP/site.yaml" 10 1 $TRACE_PERIOD
	for mode in off exec pid; do trace_run $mode 10 1; done
	stop_sims
else
	FAILED=$((FAILED + 1))
	stop_sims
fi

say "$RAN budget runs, $(wc -l <"$OUT") results in $OUT after $((SECONDS - START)) s"
if [ -n "$SKIPPED" ]; then
	say "time budget (${BUDGET} s) spent: skipped$SKIPPED"
fi
if [ $FAILED -gt 0 ]; then
	say "$FAILED runs failed (named above and in $OUT); the report shows what did run"
fi
# A run that failed is in the report with its reason; only nothing at all is a failure.
[ "$(wc -l <"$OUT")" -gt 0 ]
