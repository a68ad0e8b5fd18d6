#!/bin/bash
# SPDX-License-Identifier: MIT
# Does the unit's ExecStopPost= really leave the BESS at 0 kW when fluxd dies? The installed
# fluxd.service in a booted systemd (Debian 12 under systemd-nspawn, private network), a
# PowerPack simulator inside it on 127.0.0.1:1502, fluxd at 79 kW. Then:
#   1. systemctl kill -s KILL fluxd  -> 2008 reads 0 (ExecStopPost), the journal has the
#      failsafe's line, systemd restarts fluxd and it writes 79 kW again;
#   2. a stalled control cycle (the test hook), the watchdog aborts fluxd -> 0 kW again;
#   3. systemctl stop fluxd          -> 0 kW, the unit inactive (not failed);
#   4. a serial meter (a pty): named stale under the shipped unit, fresh with the drop-in.
# Prints the measured times. Run by hand as root from the repository root (not in make test):
#   tests/deploy/nspawn-failsafe.sh            BUILD=build-asan tests/deploy/nspawn-failsafe.sh
# Needs debootstrap and systemd-container (apt-get install debootstrap systemd-container) and
# the network once: the Debian tree is made in FLUX_NSPAWN_BASE (/var/tmp/flux-nspawn-bookworm)
# and reused; each run boots a copy of it and removes the copy. Exit 0 all passed, 1 a check
# failed, 77 skipped (the reason printed). Every wait is bounded.
# shellcheck disable=SC2015 # "check && pass || fail": pass() always returns 0
set -u

BUILD=${BUILD:-build}
BASE=${FLUX_NSPAWN_BASE:-/var/tmp/flux-nspawn-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
PKGS=systemd,systemd-sysv,dbus,liburing2,libyaml-0-2,libsystemd0,libmodbus5
PORT=1502
KW=79
WORK=
NS_PID=
FAILED=0

say() { printf 'nspawn-failsafe: %s\n' "$*"; }
skip() { say "skipped: $*"; exit 77; }
pass() { say "PASS  $*"; }
fail() { say "FAIL  $*"; FAILED=1; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

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
for t in debootstrap systemd-nspawn nsenter; do
	command -v $t >/dev/null || skip "no $t (apt-get install debootstrap systemd-container)"
done
[ -f Makefile ] && [ -f deploy/fluxd.service ] || skip "run from the repository root"

# The Debian tree, once.
if ! [ -x "$BASE/usr/bin/systemctl" ] ||
	! chroot "$BASE" dpkg-query -W ${PKGS//,/ } >/dev/null 2>&1; then
	say "debootstrap bookworm into $BASE (about a minute, once)"
	rm -rf "$BASE.tmp"
	debootstrap --variant=minbase --include=$PKGS bookworm "$BASE.tmp" "$MIRROR" \
		>"$BASE.log" 2>&1 || skip "debootstrap failed (no mirror reachable?): see $BASE.log"
	mv "$BASE.tmp" "$BASE"
fi

WORK=$(mktemp -d /var/tmp/flux-nspawn-run.XXXXXX)
cp -a --reflink=auto "$BASE/." "$WORK/" || exit 1
make --no-print-directory BUILD="$BUILD" install DESTDIR="$WORK" >"$WORK/install.log" 2>&1 ||
	{ cat "$WORK/install.log"; exit 1; }
# The site: one PowerPack on the simulator, manual 79 kW; SCHED_OTHER, unpinned (a container).
cat >"$WORK/etc/flux/site.yaml" <<EOF
site:
  cycle: 100ms
  strategy: {mode: manual, setpoint_kw: $KW}
rt: {io_cpu: -1, control_cpu: -1, io_priority: 0, control_priority: 0}
devices:
  bess:
    - {id: "bess-1", type: powerpack,
       modbus: {host: "127.0.0.1", port: $PORT, address: 1, timeout: 1s, retry_count: 3}}
EOF
cat >"$WORK/etc/systemd/system/flux-sim.service" <<EOF
[Unit]
Description=PowerPack simulator for nspawn-failsafe.sh
[Service]
ExecStart=/usr/local/bin/flux sim powerpack --port $PORT
EOF

# CAP_IPC_LOCK: the unit asks for it (AmbientCapabilities=), nspawn does not give it by default.
systemd-nspawn -D "$WORK" -b --private-network --register=no --keep-unit \
	--capability=CAP_IPC_LOCK --console=passive -M flux-failsafe >"$WORK/boot.log" 2>&1 &
NS_PID=$!
t_boot=$(now_ms)
PID1=
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
say "booted in $(($(now_ms) - t_boot)) ms (systemd $(nsenter -t "$PID1" -a systemctl --version | head -n 1 | cut -d' ' -f2))"

in_ct() { nsenter -t "$PID1" -a "$@"; }
read_2008() {
	in_ct /usr/local/bin/flux read -p $PORT -r 2008 -t i16 -o 200ms 127.0.0.1 2>/dev/null |
		sed -n 's/^\[2008\]: //p'
}
# wait_2008 VALUE TIMEOUT_MS: poll until 2008 reads VALUE; prints the ms of the match or -1.
wait_2008() {
	local t0 end
	t0=$(now_ms)
	end=$((t0 + $2))
	while [ "$(now_ms)" -lt "$end" ]; do
		[ "$(read_2008)" = "$1" ] && { echo $(($(now_ms) - t0)); return 0; }
		sleep 0.01
	done
	echo -1
	return 1
}
# ms of the UTC day of an ISO time (flux read --csv) or of `date -u +%T.%3N`.
day_ms() { awk -F'[T:.Z]' '{ if (NF > 4) { h = $2; m = $3; s = $4; f = $5 } else { h = $1; m = $2; s = $3; f = $4 }
	print ((h * 60 + m) * 60 + s) * 1000 + f }'; }
failsafe_lines() { in_ct journalctl -u fluxd -o cat --no-pager | grep -c '^bess-1: 0 kW acknowledged$'; }
# wait_failsafe_line N: until the journal holds more than N failsafe lines (3 s).
wait_failsafe_line() {
	for _ in $(seq 1 30); do [ "$(failsafe_lines)" -gt "$1" ] && return 0; sleep 0.1; done
	return 1
}

in_ct systemctl daemon-reload
in_ct systemctl start flux-sim || { fail "flux-sim did not start"; exit 1; }
in_ct systemctl start fluxd || { in_ct journalctl -u fluxd --no-pager | tail -n 30; fail "fluxd did not start"; exit 1; }
[ "$(wait_2008 $KW 5000)" -ge 0 ] && pass "fluxd under systemd writes $KW kW" ||
	{ fail "2008 never read $KW"; exit 1; }

# 1. SIGKILL: ExecStopPost= writes 0 kW, then Restart= brings fluxd back. A poller inside
# the container reads 2008 every 5 ms with timestamps; the kill's time is taken just before.
n=$(failsafe_lines)
in_ct /usr/local/bin/flux read -p $PORT -r 2008 -t i16 -o 200ms -l 5ms -n 600 --csv 127.0.0.1 \
	>"$WORK/poll.csv" 2>/dev/null &
poller=$!
sleep 0.3
kill_ms=$(date -u +%T.%3N | day_ms)
in_ct systemctl kill -s KILL fluxd
ms=$(wait_2008 0 5000)
wait "$poller"
zero_ms=$(awk -F, 'NR > 1 && $3 == "0" { print $1; exit }' "$WORK/poll.csv" | day_ms)
if [ "$ms" -ge 0 ] && [ -n "$zero_ms" ]; then
	pass "SIGKILL -> 2008 = 0 in $((zero_ms - kill_ms)) ms (systemctl kill -> first 0 of a 5 ms poll)"
else
	fail "2008 never read 0 after SIGKILL"
fi
wait_failsafe_line "$n" && pass "the journal has ExecStopPost's 'bess-1: 0 kW acknowledged'" ||
	fail "no failsafe line in the journal"
in_ct journalctl -u fluxd -o cat --no-pager | grep '^failsafe: ' | tail -n 1 | sed 's/^/    /'
[ "$(wait_2008 $KW 10000)" -ge 0 ] &&
	pass "restarted by systemd ($(in_ct systemctl show fluxd -p NRestarts --value) restart): $KW kW again" ||
	fail "fluxd did not come back after SIGKILL"

# 2. A stalled control cycle (the test hook, 2 s after start): 0 kW (from the I/O thread where
# it has that rule, else from ExecStopPost= after the watchdog, WatchdogSec=, aborts fluxd).
mkdir -p "$WORK/etc/systemd/system/fluxd.service.d"
printf '[Service]\nEnvironment=FLUXD_TEST_STALL_AFTER_S=2\n' \
	>"$WORK/etc/systemd/system/fluxd.service.d/stall.conf"
in_ct systemctl daemon-reload
n=$(failsafe_lines)
in_ct systemctl restart fluxd
n=$((n + 1)) # the restart's own stop ran the failsafe once
[ "$(wait_2008 $KW 1900)" -ge 0 ] || fail "2008 never read $KW before the stall"
t0=$(now_ms)
ms=$(wait_2008 0 15000)
[ "$ms" -ge 0 ] && pass "stalled cycle -> 2008 = 0 in $ms ms after it read $KW kW" ||
	fail "2008 never read 0 after the stall"
for _ in $(seq 1 150); do [ "$(failsafe_lines)" -gt "$n" ] && break; sleep 0.1; done
if [ "$(failsafe_lines)" -gt "$n" ]; then
	pass "watchdog abort -> failsafe line $(($(now_ms) - t0)) ms after $KW kW (WatchdogSec=5s)"
else
	fail "no failsafe line within 15 s of the stall"
fi
rm -f "$WORK/etc/systemd/system/fluxd.service.d/stall.conf"
in_ct systemctl daemon-reload
in_ct systemctl restart fluxd
[ "$(wait_2008 $KW 10000)" -ge 0 ] || fail "fluxd did not come back after the stall"

# 3. A clean stop: fluxd's own 0 kW, the failsafe repeats it harmlessly, the unit is inactive.
n=$(failsafe_lines)
t0=$(now_ms)
in_ct systemctl stop fluxd
ms=$(wait_2008 0 5000)
[ "$ms" -ge 0 ] && pass "systemctl stop -> 0 kW ($(($(now_ms) - t0)) ms, stop included)" ||
	fail "2008 not 0 after systemctl stop"
wait_failsafe_line "$n" && pass "the failsafe repeated 0 kW after the clean stop" ||
	fail "no failsafe line after the clean stop"
st=$(in_ct systemctl show fluxd -p ActiveState --value)
[ "$st" = inactive ] && pass "unit inactive after the stop (ExecStopPost= succeeded)" ||
	fail "unit $st after the stop: $(in_ct systemctl show fluxd -p Result --value)"

# 4. A meter on a serial line: a simulated Acuvim II on a pty linked at /run/flux-sim/ttyUSB0,
# owned root:dialout 0660 like a USB adapter. The shipped unit shows fluxd no tty (its
# PrivateDevices=yes) and no dialout: the meter is named stale with its error, the BESS runs
# on. With the documented drop-in (deploy/fluxd-serial.conf) the meter reads fresh.
cat >"$WORK/etc/systemd/system/flux-sim-serial.service" <<EOF
[Unit]
Description=Acuvim II simulator on a pty for nspawn-failsafe.sh
[Service]
RuntimeDirectory=flux-sim
ExecStart=/usr/local/bin/flux sim acuvim2 --serial pty --link /run/flux-sim/ttyUSB0 --unit 1
EOF
cat >>"$WORK/etc/flux/site.yaml" <<EOF
  meters:
    - {id: "feeder", type: acuvim2, modbus: {device: /run/flux-sim/ttyUSB0, address: 1, baud: 9600}}
EOF
meter_state() {
	in_ct /usr/local/bin/flux status --socket /run/flux/fluxd.sock 2>/dev/null |
		sed -n 's/^meter feeder  *[^ ]* kW  \(.*\)$/\1/p'
}
# wait_meter PATTERN: until the meter's status line matches (10 s); prints the last one.
wait_meter() {
	local st=
	for _ in $(seq 1 100); do
		st=$(meter_state)
		# shellcheck disable=SC2254 # $1 is a pattern
		case "$st" in $1) echo "$st"; return 0 ;; esac
		sleep 0.1
	done
	echo "${st:-no status}"
	return 1
}
in_ct systemctl daemon-reload
in_ct systemctl start flux-sim-serial || fail "flux-sim-serial did not start"
for _ in $(seq 1 50); do in_ct test -L /run/flux-sim/ttyUSB0 && break; sleep 0.1; done
tty=$(in_ct readlink /run/flux-sim/ttyUSB0)
in_ct chgrp dialout "$tty" && in_ct chmod 0660 "$tty" || fail "no pty behind the link"
in_ct systemctl start fluxd
if st=$(wait_meter 'stale  error *'); then
	pass "shipped unit: the serial meter is named stale ($st): no tty for fluxd"
else
	fail "shipped unit: serial meter: $st"
fi
[ "$(wait_2008 $KW 5000)" -ge 0 ] && pass "shipped unit: the BESS runs on beside it ($KW kW)" ||
	fail "the BESS stopped with the serial meter down"
mkdir -p "$WORK/etc/systemd/system/fluxd.service.d"
cp "$WORK/usr/local/share/doc/flux/fluxd-serial.conf" \
	"$WORK/etc/systemd/system/fluxd.service.d/serial.conf"
in_ct systemctl daemon-reload
in_ct systemctl restart fluxd
if st=$(wait_meter 'fresh  error none'); then
	pass "with fluxd-serial.conf: the serial meter reads fresh over RTU"
else
	fail "with fluxd-serial.conf: serial meter: $st"
	in_ct journalctl -u fluxd -o cat --no-pager | tail -n 5
fi
in_ct systemctl stop fluxd

if [ "$FAILED" = 0 ]; then say "all passed"; else
	in_ct journalctl -u fluxd --no-pager | grep -v 'fluxd\[[0-9]*\]: \(PASS\|WARN\|FAIL\|  \)' | tail -n 40
fi
exit $FAILED
