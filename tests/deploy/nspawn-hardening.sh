#!/bin/bash
# SPDX-License-Identifier: MIT
# Does the hardened fluxd.service hold under a booted systemd, and does fluxd still work in
# it? The installed unit in Debian 12 under systemd-nspawn (private network), a simulated
# PowerPack on 127.0.0.1:1502 and an Acuvim II on 127.0.0.2:1503. Checks:
#   1. `systemd-analyze security fluxd` (the loaded unit): exposure <= 1.5;
#   2. fluxd's RT threads run SCHED_FIFO at the config's priorities and its memory is locked
#      (VmLck), through CAP_SYS_NICE and CAP_IPC_LOCK; the BESS gets the setpoint;
#   3. the flux-ipallow drop-in: made from a config without the meter, fluxd reaches the BESS
#      on 127.0.0.1 and not 127.0.0.2 (its packets dropped: the meter named stale with its
#      error, "Connection timed out", where the shipped unit read it fresh); made from the
#      whole config, the meter is fresh again; the exposure with it still <= 1.5;
#   4. `systemctl reload fluxd` sends SIGHUP to the main process and the service keeps running
#      (skipped while fluxd does not catch SIGHUP: the reload handler has not landed);
#   5. under the drop-in, `systemctl stop` ends at 0 kW (ExecStopPost= reaches the BESS).
# Run as root from the repository root (not in make test):
#   tests/deploy/nspawn-hardening.sh            BUILD=build-asan tests/deploy/nspawn-hardening.sh
# Needs systemd-container and the Debian tree FLUX_NSPAWN_BASE (/var/tmp/flux-nspawn-bookworm)
# that tests/deploy/nspawn-failsafe.sh makes (debootstrap, once); each run boots a copy of it
# and removes the copy. Exit 0 all passed, 1 a check failed, 77 skipped (the reason printed).
# Every wait is bounded; about a minute in all.
# shellcheck disable=SC2015 # "check && pass || fail": pass() always returns 0
set -u

BUILD=${BUILD:-build}
BASE=${FLUX_NSPAWN_BASE:-/var/tmp/flux-nspawn-bookworm}
MAX_EXPOSURE=15 # tenths: systemd-analyze prints one decimal
KW=61
IO_PRIO=21
CTL_PRIO=20
WORK=
NS_PID=
FAILED=0

say() { printf 'nspawn-hardening: %s\n' "$*"; }
skip() { say "skipped: $*"; exit 77; }
pass() { say "PASS  $*"; }
fail() { say "FAIL  $*"; FAILED=1; }
note() { say "SKIP  $*"; }

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	if [ -n "$NS_PID" ] && kill -0 "$NS_PID" 2>/dev/null; then
		kill -TERM "$NS_PID" # nspawn -b: an orderly poweroff of the container
		for _ in $(seq 1 60); do kill -0 "$NS_PID" 2>/dev/null || break; sleep 0.5; done
		kill -0 "$NS_PID" 2>/dev/null && kill -KILL "$NS_PID"
		wait "$NS_PID" 2>/dev/null
	fi
	case "$WORK" in /var/tmp/flux-nspawn-run.*) rm -rf "$WORK" ;; esac
}
trap cleanup EXIT
trap 'exit 1' INT TERM

[ "$(id -u)" = 0 ] || skip "needs root (systemd-nspawn)"
for t in systemd-nspawn nsenter; do
	command -v $t >/dev/null || skip "no $t (apt-get install systemd-container)"
done
[ -f Makefile ] && [ -f deploy/fluxd.service ] || skip "run from the repository root"
[ -x "$BASE/usr/bin/systemd-analyze" ] ||
	skip "no Debian tree in $BASE: run tests/deploy/nspawn-failsafe.sh once (it debootstraps)"

WORK=$(mktemp -d /var/tmp/flux-nspawn-run.XXXXXX)
cp -a --reflink=auto "$BASE/." "$WORK/" || exit 1
make --no-print-directory BUILD="$BUILD" install DESTDIR="$WORK" >"$WORK/install.log" 2>&1 ||
	{ cat "$WORK/install.log"; exit 1; }
IPALLOW=/usr/local/sbin/flux-ipallow
if ! [ -x "$WORK$IPALLOW" ]; then # not installed by make install (yet): the source's copy
	IPALLOW=/usr/local/sbin/flux-ipallow.sh
	install -m 0755 deploy/flux-ipallow.sh "$WORK$IPALLOW"
fi

# The last CPU for both RT threads (none pinned on a one-CPU machine).
cpu=$(($(nproc) - 1))
[ "$cpu" -gt 0 ] || cpu=-1
site() { # site [meter]: the site config, with the meter on 127.0.0.2 when asked
	cat <<EOF
site:
  cycle: 100ms
  strategy: {mode: manual, setpoint_kw: $KW}
rt: {io_cpu: $cpu, control_cpu: $cpu, io_priority: $IO_PRIO, control_priority: $CTL_PRIO}
devices:
  bess:
    - {id: "bess-1", type: powerpack,
       modbus: {host: "127.0.0.1", port: 1502, address: 1, timeout: 1s, retry_count: 3}}
EOF
	[ "${1:-}" = meter ] && cat <<EOF
  meters:
    - {id: "far", type: acuvim2,
       modbus: {host: "127.0.0.2", port: 1503, address: 1, timeout: 250ms, retry_count: 1}}
EOF
	return 0
}
site meter >"$WORK/etc/flux/site.yaml"
site >"$WORK/etc/flux/bess-only.yaml"
cat >"$WORK/etc/systemd/system/flux-sim.service" <<EOF
[Unit]
Description=PowerPack and Acuvim II simulators for nspawn-hardening.sh
[Service]
ExecStart=/usr/local/bin/flux sim powerpack --port 1502 acuvim2 --host 127.0.0.2 --port 1503
EOF

# CAP_IPC_LOCK: the unit asks for it (AmbientCapabilities=), nspawn does not give it by default
# (CAP_SYS_NICE it does). The unified cgroup hierarchy (cgroup v2 only), as a stock Debian 12
# boots: systemd has no IPAddressDeny= (BPF) on the hybrid one a cgroup v1 host gives by default.
SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 systemd-nspawn -D "$WORK" -b --private-network --register=no --keep-unit \
	--capability=CAP_IPC_LOCK --system-call-filter=bpf --console=passive -M flux-harden >"$WORK/boot.log" 2>&1 &
NS_PID=$!
PID1=
st=
for _ in $(seq 1 120); do
	PID1=$(ps -o pid= --ppid "$NS_PID" 2>/dev/null | tr -d ' ' | head -n 1)
	if [ -n "$PID1" ]; then
		st=$(nsenter -t "$PID1" -a systemctl is-system-running 2>/dev/null)
		[ "$st" = running ] || [ "$st" = degraded ] && break
	fi
	kill -0 "$NS_PID" 2>/dev/null || { cat "$WORK/boot.log"; say "the container did not boot"; exit 1; }
	sleep 0.5
done
[ "$st" = running ] || [ "$st" = degraded ] || { say "not booted after 60 s: $st"; exit 1; }
in_ct() { nsenter -t "$PID1" -a "$@"; }
t0=$SECONDS
say "booted (systemd $(in_ct systemctl --version | head -n 1 | cut -d' ' -f2))"

read_2008() {
	in_ct /usr/local/bin/flux read -p 1502 -r 2008 -t i16 -o 200ms 127.0.0.1 2>/dev/null |
		sed -n 's/^\[2008\]: //p'
}
# wait_2008 VALUE TIMEOUT_S: until 2008 reads VALUE.
wait_2008() {
	for _ in $(seq 1 $(($2 * 10))); do
		[ "$(read_2008)" = "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
meter_state() {
	in_ct /usr/local/bin/flux status --socket /run/flux/fluxd.sock 2>/dev/null |
		sed -n 's/^meter far  *[^ ]* kW  \(.*\)$/\1/p'
}
# wait_meter PATTERN: until the meter's status line matches (10 s); prints the last one.
wait_meter() {
	local s=
	for _ in $(seq 1 100); do
		s=$(meter_state)
		# shellcheck disable=SC2254 # $1 is a pattern
		case "$s" in $1) echo "$s"; return 0 ;; esac
		sleep 0.1
	done
	echo "${s:-no status}"
	return 1
}
# exposure: systemd-analyze's overall exposure of the loaded fluxd.service, in tenths.
exposure() {
	in_ct systemd-analyze security --no-pager fluxd.service 2>&1 |
		sed -n 's/.*Overall exposure level for fluxd\.service: \([0-9]*\)\.\([0-9]\).*/\1\2/p'
}
check_exposure() { # check_exposure WHAT
	local e
	e=$(exposure)
	if [ -z "$e" ]; then
		fail "$1: no exposure level from systemd-analyze security"
		in_ct systemd-analyze security --no-pager fluxd.service 2>&1 | tail -n 5
	elif [ "$e" -le "$MAX_EXPOSURE" ]; then
		pass "$1: systemd-analyze security exposure $((e / 10)).$((e % 10)) (<= 1.5)"
	else
		fail "$1: exposure $((e / 10)).$((e % 10)) > 1.5:"
		in_ct systemd-analyze security --no-pager fluxd.service 2>&1 | grep '✗'
	fi
}
main_pid() { in_ct systemctl show fluxd -p MainPID --value; }

in_ct systemctl daemon-reload
in_ct systemctl start flux-sim || { fail "flux-sim did not start"; exit 1; }

# 1. The score of the shipped unit.
check_exposure "shipped unit"

# 2. Real time under the sandbox: SCHED_FIFO threads, locked memory; and control works.
in_ct systemctl start fluxd || { in_ct journalctl -u fluxd --no-pager | tail -n 30; fail "fluxd did not start"; exit 1; }
wait_2008 $KW 5 && pass "fluxd under the hardened unit writes $KW kW to 127.0.0.1" ||
	fail "2008 never read $KW"
pid=$(main_pid)
# Per thread: comm, policy (field 41 of stat: 1 SCHED_FIFO), rt_priority (field 40).
threads=$(in_ct sh -c "for t in /proc/$pid/task/*; do
	printf '%s %s\n' \"\$(cat \$t/comm)\" \"\$(sed 's/.*) //' \$t/stat | cut -d' ' -f38,39)\"
done")
for want in "flux-io $IO_PRIO 1" "flux-ctl $CTL_PRIO 1"; do
	if printf '%s\n' "$threads" | grep -qx "$want"; then
		pass "thread ${want%% *}: SCHED_FIFO priority $(echo "$want" | cut -d' ' -f2)"
	else
		fail "no thread '${want%% *}' at SCHED_FIFO $(echo "$want" | cut -d' ' -f2): $(printf '%s; ' "$threads")"
	fi
done
lck=$(in_ct sed -n 's/^VmLck:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status")
[ "${lck:-0}" -gt 0 ] && pass "memory locked: VmLck $lck kB (mlockall)" ||
	fail "VmLck ${lck:-?} kB: mlockall not in effect"
in_ct journalctl -u fluxd -o cat --no-pager | grep -E 'mlockall:|SCHED_FIFO' | tail -n 2 | sed 's/^/    /'
in_ct journalctl -u fluxd -o cat --no-pager | grep -q 'no permission for SCHED_FIFO' &&
	fail "fluxd says it has no permission for SCHED_FIFO"
st=$(wait_meter 'fresh  error none') && pass "shipped unit: the meter on 127.0.0.2 (localhost) reads fresh" ||
	fail "shipped unit: meter on 127.0.0.2: $st"

# 3. The drop-in from a config without the meter: 127.0.0.1 only.
mkdir -p "$WORK/etc/systemd/system/fluxd.service.d"
drop=$WORK/etc/systemd/system/fluxd.service.d/ipallow.conf
if in_ct "$IPALLOW" -c /etc/flux/bess-only.yaml >"$drop"; then
	pass "flux-ipallow printed the drop-in: $(grep '^IPAddress' "$drop" | tr '\n' ' ')"
else
	fail "flux-ipallow -c bess-only.yaml failed"
fi
in_ct systemctl daemon-reload
in_ct systemctl restart fluxd
allow=$(in_ct systemctl show fluxd -p IPAddressAllow --value)
[ "$allow" = 127.0.0.1/32 ] && pass "IPAddressAllow is the config's host only ($allow)" ||
	fail "IPAddressAllow: '$allow'"
wait_2008 $KW 5 && pass "with the drop-in: fluxd reaches the BESS on 127.0.0.1 ($KW kW)" ||
	fail "with the drop-in: 2008 never read $KW"
if in_ct journalctl -b -o cat --no-pager | grep -q 'does not support BPF/cgroup firewalling'; then
	note "127.0.0.2 not checked: this systemd has no BPF firewall (IPAddressDeny= is not in effect)"
else
	st=$(wait_meter 'stale  error [!n]*') &&
		pass "with the drop-in: 127.0.0.2 dropped, the meter named stale ($st)" ||
		fail "with the drop-in: the meter on 127.0.0.2 is not stale: $st"
fi
in_ct journalctl -u fluxd -o cat --no-pager | grep '^fluxd: far: ' | tail -n 1 | sed 's/^/    /'
check_exposure "with the drop-in"

# The drop-in from the whole config: the meter is allowed again.
in_ct "$IPALLOW" -c /etc/flux/site.yaml >"$drop" || fail "flux-ipallow -c site.yaml failed"
in_ct systemctl daemon-reload
in_ct systemctl restart fluxd
st=$(wait_meter 'fresh  error none') && pass "drop-in from the whole config: the meter on 127.0.0.2 reads fresh" ||
	fail "drop-in from the whole config: meter $st"

# 4. Reload: SIGHUP to the main process, the service stays up.
pid=$(main_pid)
hup=$(in_ct sed -n 's/^SigCgt:[[:space:]]*//p' "/proc/$pid/status")
if [ -n "$hup" ] && (((0x$hup >> 0) & 1)); then # bit 0: SIGHUP (signal 1)
	if in_ct systemctl reload fluxd; then
		sleep 1
		if [ "$(main_pid)" = "$pid" ] && [ "$(in_ct systemctl is-active fluxd)" = active ]; then
			pass "systemctl reload: SIGHUP to fluxd, same main PID $pid, active"
		else
			fail "after systemctl reload: main PID $(main_pid) (was $pid), $(in_ct systemctl is-active fluxd)"
		fi
		wait_2008 $KW 3 && pass "after the reload: still $KW kW" || fail "after the reload: 2008 not $KW"
	else
		fail "systemctl reload fluxd failed"
		in_ct journalctl -u fluxd -o cat --no-pager | tail -n 5
	fi
else
	note "systemctl reload: fluxd does not catch SIGHUP (SigCgt ${hup:-?}): the reload handler has not landed, a reload would end it"
	execreload=$(in_ct systemctl show fluxd -p ExecReload --value)
	case "$execreload" in *'kill -HUP'*) pass "the unit has ExecReload= (SIGHUP to \$MAINPID)" ;;
	*) fail "no ExecReload= with SIGHUP: $execreload" ;; esac
fi

# 5. Stop under the drop-in: fluxd's own 0 kW and ExecStopPost='s, the unit inactive.
in_ct systemctl stop fluxd
wait_2008 0 5 && pass "systemctl stop under the drop-in: 0 kW" || fail "2008 not 0 after stop"
st=$(in_ct systemctl show fluxd -p ActiveState --value)
[ "$st" = inactive ] && pass "unit inactive after the stop (ExecStopPost= reached the BESS)" ||
	fail "unit $st after the stop: $(in_ct systemctl show fluxd -p Result --value)"
in_ct journalctl -u fluxd -o cat --no-pager | grep -c '^bess-1: 0 kW acknowledged$' >/dev/null ||
	fail "no failsafe line in the journal"

if [ "$FAILED" = 0 ]; then say "all passed ($((SECONDS - t0)) s after boot)"; else
	in_ct journalctl -u fluxd --no-pager | grep -v 'fluxd\[[0-9]*\]: \(PASS\|WARN\|FAIL\|  \)' | tail -n 40
fi
exit $FAILED
