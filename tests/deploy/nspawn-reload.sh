#!/bin/bash
# SPDX-License-Identifier: MIT
# Does `systemctl reload fluxd` change the site without dropping control? The installed
# fluxd.service in a booted systemd (Debian 12 under systemd-nspawn, private network), a
# PowerPack simulator inside it on 127.0.0.1:1502, fluxd at 40 kW (manual). Then:
#   1. setpoint_kw 40 -> 25 in /etc/flux/site.yaml, systemctl reload fluxd: 2008 reads 25,
#      and a 5 ms poll of 2008 over the reload never read anything but 40 or 25 (no 0, no
#      error); the journal says "reload: applied: ..."; the same MainPID, no restart,
#      `flux status --json` shows config_gen 2 and the BESS fresh;
#   2. a file with a syntax error: refused ("the file has errors"), 2008 stays 25, config_gen 2;
#   3. the BESS's modbus port changed: refused by name, 2008 stays 25, the same MainPID.
# Run by hand as root from the repository root (not in make test):
#   tests/deploy/nspawn-reload.sh            BUILD=build-asan tests/deploy/nspawn-reload.sh
# Needs systemd-container and the Debian tree FLUX_NSPAWN_BASE (/var/tmp/flux-nspawn-bookworm,
# made by tests/deploy/nspawn-failsafe.sh, which needs debootstrap and the network once): it is
# copied, never changed. If the installed unit has no ExecReload= yet, a drop-in gives it
# SIGHUP. Exit 0 all passed, 1 a check failed, 77 skipped (the reason printed). Every wait is
# bounded; about 30 s.
# shellcheck disable=SC2015 # "check && pass || fail": pass() always returns 0
set -u

BUILD=${BUILD:-build}
BASE=${FLUX_NSPAWN_BASE:-/var/tmp/flux-nspawn-bookworm}
PKGS=(systemd systemd-sysv dbus liburing2 libyaml-0-2 libsystemd0 libmodbus5)
PORT=1502
WORK=
NS_PID=
FAILED=0

say() { printf 'nspawn-reload: %s\n' "$*"; }
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
	case "$WORK" in /var/tmp/flux-nspawn-reload.*) rm -rf "$WORK" ;; esac
}
trap cleanup EXIT
trap 'exit 1' INT TERM

[ "$(id -u)" = 0 ] || skip "needs root (systemd-nspawn)"
for t in systemd-nspawn nsenter; do
	command -v $t >/dev/null || skip "no $t (apt-get install systemd-container)"
done
[ -f Makefile ] && [ -f deploy/fluxd.service ] || skip "run from the repository root"
[ -x "$BASE/usr/bin/systemctl" ] && chroot "$BASE" dpkg-query -W "${PKGS[@]}" >/dev/null 2>&1 ||
	skip "no Debian tree in $BASE (tests/deploy/nspawn-failsafe.sh makes it)"

WORK=$(mktemp -d /var/tmp/flux-nspawn-reload.XXXXXX)
cp -a --reflink=auto "$BASE/." "$WORK/" || exit 1
make --no-print-directory BUILD="$BUILD" install DESTDIR="$WORK" >"$WORK/install.log" 2>&1 ||
	{ cat "$WORK/install.log"; exit 1; }
SITE="$WORK/etc/flux/site.yaml"
cat >"$SITE" <<EOF
site:
  cycle: 100ms
  strategy: {mode: manual, setpoint_kw: 40}
rt: {io_cpu: -1, control_cpu: -1, io_priority: 0, control_priority: 0}
devices:
  bess:
    - {id: "bess-1", type: powerpack,
       modbus: {host: "127.0.0.1", port: $PORT, address: 1, timeout: 1s, retry_count: 3}}
EOF
cat >"$WORK/etc/systemd/system/flux-sim.service" <<EOF
[Unit]
Description=PowerPack simulator for nspawn-reload.sh
[Service]
ExecStart=/usr/local/bin/flux sim powerpack --port $PORT
EOF
if ! grep -q '^ExecReload=' "$WORK/etc/systemd/system/fluxd.service" \
	"$WORK/usr/local/lib/systemd/system/fluxd.service" 2>/dev/null; then
	say "the installed unit has no ExecReload= yet: a drop-in sends SIGHUP"
	mkdir -p "$WORK/etc/systemd/system/fluxd.service.d"
	# shellcheck disable=SC2016 # $MAINPID is systemd's, not the shell's
	printf '[Service]\nExecReload=/bin/kill -HUP $MAINPID\n' \
		>"$WORK/etc/systemd/system/fluxd.service.d/reload.conf"
fi

systemd-nspawn -D "$WORK" -b --private-network --register=no --keep-unit \
	--capability=CAP_IPC_LOCK --console=passive -M flux-reload >"$WORK/boot.log" 2>&1 &
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
read_2008() {
	in_ct /usr/local/bin/flux read -p $PORT -r 2008 -t i16 -o 200ms 127.0.0.1 2>/dev/null |
		sed -n 's/^\[2008\]: //p'
}
# wait_2008 VALUE TIMEOUT_MS: until 2008 reads VALUE; returns 1 if it never did.
wait_2008() {
	local end=$(($(now_ms) + $2))
	while [ "$(now_ms)" -lt "$end" ]; do
		[ "$(read_2008)" = "$1" ] && return 0
		sleep 0.02
	done
	return 1
}
journal() { in_ct journalctl -u fluxd -o cat --no-pager; }
# wait_journal TEXT: until the journal has a line with TEXT (5 s).
wait_journal() {
	for _ in $(seq 1 50); do journal | grep -qF -- "$1" && return 0; sleep 0.1; done
	return 1
}
status_json() { in_ct /usr/local/bin/flux status --socket /run/flux/fluxd.sock --json 2>/dev/null; }
gen() { status_json | sed -n 's/.*"config_gen":\([0-9]*\).*/\1/p'; }
main_pid() { in_ct systemctl show fluxd -p MainPID --value; }
# reload_once: systemctl reload, then until the journal has one more outcome line (5 s).
outcomes() { journal | grep -c '^fluxd: reload: applied\|^fluxd: reload refused\|^fluxd: reload: nothing'; }
reload_once() {
	local n
	n=$(outcomes)
	in_ct systemctl reload fluxd || fail "systemctl reload fluxd exited $?"
	for _ in $(seq 1 50); do [ "$(outcomes)" -gt "$n" ] && break; sleep 0.1; done
}

in_ct systemctl daemon-reload
in_ct systemctl start flux-sim || { fail "flux-sim did not start"; exit 1; }
in_ct systemctl start fluxd || { journal | tail -n 30; fail "fluxd did not start"; exit 1; }
wait_2008 40 5000 && pass "fluxd under systemd writes 40 kW" || { fail "2008 never read 40"; exit 1; }
[ -n "$(in_ct systemctl show fluxd -p ExecReload --value)" ] && pass "the unit has ExecReload=" ||
	fail "no ExecReload= in the unit"
pid0=$(main_pid)
[ "$(gen)" = 1 ] && pass "config_gen 1 at start" || fail "config_gen at start: $(gen)"

# 1. A changed setpoint: applied at a cycle boundary, 2008 never anything but 40 or 25.
sed -i 's/setpoint_kw: 40/setpoint_kw: 25/' "$SITE"
in_ct /usr/local/bin/flux read -p $PORT -r 2008 -t i16 -o 200ms -l 5ms -n 400 --csv 127.0.0.1 \
	>"$WORK/poll.csv" 2>/dev/null &
poller=$!
sleep 0.3
t0=$(now_ms)
in_ct systemctl reload fluxd || fail "systemctl reload fluxd exited $?"
wait_2008 25 5000 && pass "systemctl reload -> 2008 = 25 kW in $(($(now_ms) - t0)) ms" ||
	fail "2008 never read 25 after the reload"
wait "$poller"
odd=$(awk -F, 'NR > 1 && !($3 == "40" || $3 == "25") { n++ } END { print n + 0 }' "$WORK/poll.csv")
polls=$(($(wc -l <"$WORK/poll.csv") - 1))
seen25=$(awk -F, 'NR > 1 && $3 == "25" { n++ } END { print n + 0 }' "$WORK/poll.csv")
[ "$odd" = 0 ] && [ "$seen25" -gt 0 ] &&
	pass "no gap: $polls polls of 2008 every 5 ms over the reload read only 40 then 25" ||
	fail "$odd of $polls polls read neither 40 nor 25 (or 25 never: $seen25)"
wait_journal "reload: applied: site.strategy.setpoint_kw 40 -> 25" &&
	pass "journal: $(journal | grep '^fluxd: reload: applied' | tail -n 1)" || fail "no 'reload: applied' line"
[ "$(main_pid)" = "$pid0" ] && [ "$(in_ct systemctl show fluxd -p NRestarts --value)" = 0 ] &&
	pass "the same fluxd (MainPID $pid0), no restart" || fail "fluxd was restarted"
[ "$(gen)" = 2 ] && pass "config_gen 2 after the reload" || fail "config_gen: $(gen)"
status_json | grep -q '"is_fresh":true' && pass "the BESS stayed fresh" || fail "the BESS is not fresh"
st=$(in_ct systemctl is-active fluxd)
[ "$st" = active ] && pass "unit active after the reload" || fail "unit $st after the reload"

# 2. A bad file: refused, nothing changed.
sed -i 's/setpoint_kw: 25/setpoint_kw: [10/' "$SITE"
reload_once
wait_journal "reload refused: the file has errors (above), nothing changed" &&
	pass "bad file: $(journal | grep '^fluxd: reload: .*site.yaml:' | tail -n 1)" ||
	fail "bad file: no refusal in the journal"
sleep 0.5
[ "$(read_2008)" = 25 ] && [ "$(gen)" = 2 ] && pass "bad file: 2008 still 25 kW, config_gen 2" ||
	fail "bad file changed something: 2008 $(read_2008), config_gen $(gen)"

# 3. The device table: refused by name, the running config stays.
sed -i 's/setpoint_kw: \[10/setpoint_kw: 10/; s/port: 1502/port: 1503/' "$SITE"
reload_once
wait_journal "reload refused: devices.bess[0].modbus.port changed (restart fluxd to apply)" &&
	pass "device change refused by name" || fail "device change: no named refusal"
sleep 0.5
[ "$(read_2008)" = 25 ] && [ "$(gen)" = 2 ] && [ "$(main_pid)" = "$pid0" ] &&
	pass "device change: 2008 still 25 kW, config_gen 2, the same fluxd" ||
	fail "device change changed something: 2008 $(read_2008), config_gen $(gen)"
st=$(in_ct systemctl is-active fluxd)
[ "$st" = active ] && pass "unit active after the refusals" || fail "unit $st after the refusals"

in_ct systemctl stop fluxd
if [ "$FAILED" = 0 ]; then say "all passed"; else journal | tail -n 40; fi
exit $FAILED
