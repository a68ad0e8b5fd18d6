#!/bin/bash
# SPDX-License-Identifier: MIT
# Does the Debian package install, upgrade and purge as Debian expects? As root, from the
# repository root (CI: .ci/run; by hand: tests/deploy/deb.sh, BUILD=build-x to build there):
#   1. make deb three times (versions V1 < V2 < V3, the same tree); lintian on V1: no error;
#   2. on this machine: dpkg -i V1; the binaries, the unit (disabled), the conffile, the
#      profiles, the bpftrace scripts, the man pages (man -w), the flux user (sysusers) and
#      /run/flux (tmpfiles); fluxd --check-config /etc/flux/site.yaml; then dpkg --purge with
#      the config edited and a site file beside it: only that file may remain (and the flux
#      user, a system user Debian leaves), then the machine is put back as it was;
#   3. under a booted systemd (Debian 12 in systemd-nspawn, a copy of FLUX_NSPAWN_BASE, the
#      tree tests/deploy/nspawn-failsafe.sh makes): V1 installs disabled and stopped; the site
#      enabled and started (a simulated PowerPack at 42 kW); V2 over it with a valid config
#      restarts fluxd; V3 over it with a broken config leaves the old fluxd running and says
#      why; dpkg --purge stops it (0 kW at the BESS) and leaves no unit, link or state.
# Exit 0 all passed, 1 a check failed, 77 skipped (the reason printed). Every wait is bounded.
# shellcheck disable=SC2015 # "check && pass || fail": pass() always returns 0
# shellcheck disable=SC2016 # '${Version}' and the container's $(...) are not this shell's
set -u

BUILD=${BUILD:-build}
BASE=${FLUX_NSPAWN_BASE:-/var/tmp/flux-nspawn-bookworm}
PORT=1502
KW=42
WORK=
NS_PID=
FAILED=0
HAD_USER=1

say() { printf 'deb: %s\n' "$*"; }
skip() { say "skipped: $*"; exit 77; }
pass() { say "PASS  $*"; }
fail() { say "FAIL  $*"; FAILED=1; }
die() { fail "$*"; exit 1; }

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	if [ -n "$NS_PID" ] && kill -0 "$NS_PID" 2>/dev/null; then
		kill -TERM "$NS_PID"
		for _ in $(seq 1 60); do kill -0 "$NS_PID" 2>/dev/null || break; sleep 0.5; done
		kill -0 "$NS_PID" 2>/dev/null && kill -KILL "$NS_PID"
		wait "$NS_PID" 2>/dev/null
	fi
	# This machine as it was: no flux package, no flux user if there was none.
	if dpkg-query -W -f='${Status}' flux 2>/dev/null | grep -q 'install\|config-files'; then
		dpkg --purge flux >/dev/null 2>&1
	fi
	rm -f /etc/flux/my-bess.yaml
	rmdir /etc/flux 2>/dev/null
	if [ "$HAD_USER" = 0 ]; then
		userdel flux 2>/dev/null
		groupdel flux 2>/dev/null
	fi
	case "$WORK" in /var/tmp/flux-deb-run.*) rm -rf "$WORK" ;; esac
}

[ "$(id -u)" = 0 ] || skip "needs root (dpkg -i, systemd-nspawn)"
[ -f Makefile ] && [ -d deploy/debian ] || skip "run from the repository root"
for t in dpkg-buildpackage dh lintian man groff systemd-sysusers systemd-nspawn nsenter git; do
	command -v $t >/dev/null ||
		skip "no $t (apt-get install debhelper dpkg-dev lintian man-db groff-base systemd-container)"
done
if dpkg-query -W -f='${Status}' flux 2>/dev/null | grep -q 'install\|config-files'; then
	skip "a flux package is installed here: this test would replace and purge it"
fi
[ -e /etc/flux ] && skip "/etc/flux exists (make install?): this test would take it over"
getent passwd flux >/dev/null || HAD_USER=0
trap cleanup EXIT
trap 'exit 1' INT TERM

WORK=$(mktemp -d /var/tmp/flux-deb-run.XXXXXX)
t0=$(date +%s)

# ---- 1. three builds, lintian -----------------------------------------------------------
V1=$(deploy/debian/version.sh) || die "deploy/debian/version.sh"
V2="$V1+bump1"
V3="$V1+bump2"
dpkg --compare-versions "$V1" lt "$V2" && dpkg --compare-versions "$V2" lt "$V3" ||
	die "versions do not sort: $V1 $V2 $V3"
ARCH=$(dpkg-architecture -qDEB_HOST_ARCH)
git ls-files --others --exclude-standard >"$WORK/untracked.before"
for v in "$V1" "$V2" "$V3"; do
	make --no-print-directory BUILD="$BUILD" deb DEB_VERSION="$v" >"$WORK/make-deb.log" 2>&1 ||
		{ cat "$WORK/make-deb.log"; die "make deb DEB_VERSION=$v"; }
	cp "$BUILD/deb/flux_${v}_$ARCH.deb" "$WORK/" || die "no $BUILD/deb/flux_${v}_$ARCH.deb"
done
DEB1=$WORK/flux_${V1}_$ARCH.deb
DEB2=$WORK/flux_${V2}_$ARCH.deb
DEB3=$WORK/flux_${V3}_$ARCH.deb
pass "make deb: flux_${V1}_$ARCH.deb, and $V2, $V3 ($(($(date +%s) - t0)) s)"
git ls-files --others --exclude-standard >"$WORK/untracked.after"
cmp -s "$WORK/untracked.before" "$WORK/untracked.after" && pass "make deb left no file in the repository" ||
	fail "make deb left files in the repository: $(comm -13 "$WORK/untracked.before" "$WORK/untracked.after")"

lintian --fail-on error --display-level '>=info' "$DEB1" >"$WORK/lintian.log" 2>&1
rc=$?
sed 's/^/deb:   /' "$WORK/lintian.log"
[ $rc = 0 ] && pass "lintian: no error ($(grep -c '^W:' "$WORK/lintian.log") warnings)" ||
	fail "lintian: errors (exit $rc)"

# ---- 2. this machine ----------------------------------------------------------------------
DEBIAN_FRONTEND=noninteractive dpkg -i "$DEB1" >"$WORK/dpkg-i.log" 2>&1 ||
	{ cat "$WORK/dpkg-i.log"; die "dpkg -i $DEB1"; }
grep -q 'installed disabled and not started' "$WORK/dpkg-i.log" &&
	pass "dpkg -i: says the unit is installed disabled and not started" ||
	fail "dpkg -i did not say the unit is disabled (see $WORK/dpkg-i.log)"
for f in /usr/bin/flux /usr/bin/fluxd /usr/bin/fluxtrace /usr/sbin/flux-rt-tune; do
	[ -x "$f" ] || fail "$f missing or not executable"
done
grep -q '^ExecStart=/usr/bin/fluxd -c /etc/flux/site.yaml' /lib/systemd/system/fluxd.service &&
	pass "the unit in /lib/systemd/system with the /usr paths" || fail "the unit or its paths"
[ -e /etc/systemd/system/multi-user.target.wants/fluxd.service ] &&
	fail "the unit was enabled on install" || pass "the unit is not enabled"
dpkg-query -W -f='${Conffiles}\n' flux | grep -q '^ /etc/flux/site.yaml [0-9a-f]\{32\}$' &&
	cmp -s /etc/flux/site.yaml deploy/site.yaml && pass "/etc/flux/site.yaml: the example, a conffile" ||
	fail "/etc/flux/site.yaml is not the example as a conffile"
n=0
for p in devices/profiles/*.yaml; do cmp -s "$p" "/usr/share/flux/profiles/${p##*/}" && n=$((n + 1)); done
[ "$n" = "$(find devices/profiles -name '*.yaml' | wc -l)" ] && [ "$n" -gt 0 ] &&
	pass "$n device profiles in /usr/share/flux/profiles" || fail "device profiles: $n match"
n=$(find /usr/share/flux/bpf -name '*.bt' -perm -0755 | wc -l)
[ "$n" = "$(find bpf -name '*.bt' | wc -l)" ] && pass "$n bpftrace scripts" || fail "bpftrace scripts: $n"
for f in /usr/share/doc/flux/README.md /usr/share/doc/flux/docs/deploy.md \
	/usr/share/doc/flux/fluxd-serial.conf /usr/share/doc/flux/copyright \
	/usr/lib/sysusers.d/flux.conf /usr/lib/tmpfiles.d/flux.conf; do
	[ -f "$f" ] || fail "$f missing"
done
for page in 1:flux 8:fluxd 8:fluxtrace 8:flux-rt-tune 5:flux-site.yaml; do
	w=$(man -w "${page%%:*}" "${page#*:}" 2>&1)
	[ "$w" = "/usr/share/man/man${page%%:*}/${page#*:}.${page%%:*}.gz" ] ||
		fail "man -w ${page%%:*} ${page#*:}: $w"
	man -l "$w" 2>&1 >/dev/null | grep -q . && fail "man -l $w warns"
done
[ "$(man -w flux)" = /usr/share/man/man1/flux.1.gz ] && pass "man -w flux: $(man -w flux), and the other 4 pages"
getent passwd flux | grep -q ':/usr/sbin/nologin$' && getent group flux >/dev/null &&
	pass "the flux user and group (sysusers): $(getent passwd flux)" || fail "no flux system user"
[ "$(stat -c '%U:%G %a' /run/flux 2>&1)" = "flux:flux 755" ] && pass "/run/flux (tmpfiles)" ||
	fail "/run/flux: $(stat -c '%U:%G %a' /run/flux 2>&1)"
out=$(/usr/bin/fluxd --check-config /etc/flux/site.yaml 2>&1) && pass "fluxd --check-config /etc/flux/site.yaml" ||
	fail "fluxd --check-config /etc/flux/site.yaml: $out"

# Purge with the config edited and a site's own file beside it.
echo "# edited" >>/etc/flux/site.yaml
echo "# a site's own profile" >/etc/flux/my-bess.yaml
dpkg --purge flux >"$WORK/purge.log" 2>&1 || { cat "$WORK/purge.log"; fail "dpkg --purge flux"; }
left=$(for p in /etc/flux/site.yaml /usr/bin/flux /usr/bin/fluxd /usr/bin/fluxtrace \
	/usr/sbin/flux-rt-tune /lib/systemd/system/fluxd.service /usr/lib/sysusers.d/flux.conf \
	/usr/lib/tmpfiles.d/flux.conf /usr/share/flux /usr/share/doc/flux /run/flux \
	/usr/share/man/man1/flux.1.gz /usr/share/man/man5/flux-site.yaml.5.gz \
	/usr/share/man/man8/fluxd.8.gz /var/lib/systemd/deb-systemd-helper-enabled/fluxd.service.dsh-also; do
	[ -e "$p" ] && echo "$p"; done)
[ -z "$left" ] && pass "dpkg --purge: nothing of the package left (the edited site.yaml gone)" ||
	fail "dpkg --purge left: $left"
[ "$(ls -A /etc/flux 2>&1)" = my-bess.yaml ] && pass "purge: only the site's own /etc/flux/my-bess.yaml stays" ||
	fail "/etc/flux after purge: $(ls -A /etc/flux 2>&1)"
dpkg-query -W -f='${Status}' flux 2>/dev/null | grep -q 'install\|config-files' &&
	fail "dpkg still knows flux: $(dpkg-query -W -f='${Status}' flux)" || pass "dpkg: flux not installed"
rm -f /etc/flux/my-bess.yaml
rmdir /etc/flux 2>/dev/null

# ---- 3. upgrades under a booted systemd ----------------------------------------------------
[ -x "$BASE/usr/bin/systemctl" ] || {
	say "no Debian tree $BASE: tests/deploy/nspawn-failsafe.sh makes it (debootstrap)"
	[ $FAILED = 0 ] && skip "the upgrade checks (no $BASE)"
	exit 1
}
ROOT=$WORK/root
mkdir -p "$ROOT"
cp -a --reflink=auto "$BASE/." "$ROOT/" || die "copy $BASE"
mkdir -p "$ROOT/root/debs"
cp "$DEB1" "$DEB2" "$DEB3" "$ROOT/root/debs/"
# The runtime libraries the base tree lacks (libbpf1 for fluxtrace; the rest it has).
missing=$(dpkg-deb -f "$DEB1" Depends | tr ',' '\n' | sed 's/[ (].*//;s/^ *//' |
	grep -v '^systemd$' | while read -r p; do
		[ -n "$p" ] && ! chroot "$ROOT" dpkg-query -W "$p" >/dev/null 2>&1 && echo "$p"; done)
if [ -n "$missing" ]; then
	# libbpf1 needs libelf1 too.
	echo "$missing" | grep -q libbpf1 && missing="$missing libelf1"
	# shellcheck disable=SC2086
	(cd "$ROOT/root/debs" && apt-get download -qq $missing >"$WORK/download.log" 2>&1) ||
		{ cat "$WORK/download.log"; [ $FAILED = 0 ] && skip "apt-get download $missing failed"; exit 1; }
fi

systemd-nspawn -D "$ROOT" -b --private-network --register=no --keep-unit \
	--capability=CAP_IPC_LOCK --console=passive -M "flux-deb-$$" >"$WORK/boot.log" 2>&1 &
NS_PID=$!
PID1=
st=
for _ in $(seq 1 120); do
	PID1=$(ps -o pid= --ppid "$NS_PID" 2>/dev/null | tr -d ' ' | head -n 1)
	if [ -n "$PID1" ]; then
		st=$(nsenter -t "$PID1" -a systemctl is-system-running 2>/dev/null)
		[ "$st" = running ] || [ "$st" = degraded ] && break
	fi
	kill -0 "$NS_PID" 2>/dev/null || { cat "$WORK/boot.log"; die "the container did not boot"; }
	sleep 0.5
done
[ "$st" = running ] || [ "$st" = degraded ] || die "not booted after 60 s: $st"
in_ct() { nsenter -t "$PID1" -a "$@"; }
in_net() { nsenter -t "$PID1" -n "$@"; }
read_2008() {
	in_net "$BUILD/deb/src/build-pkg/bin/flux" read -p $PORT -r 2008 -t i16 -o 200ms 127.0.0.1 2>/dev/null |
		sed -n 's/^\[2008\]: //p'
}
wait_2008() { # VALUE: until 2008 reads VALUE (10 s)
	for _ in $(seq 1 100); do [ "$(read_2008)" = "$1" ] && return 0; sleep 0.1; done
	return 1
}
main_pid() { in_ct systemctl show -p MainPID --value fluxd; }
say "booted a Debian 12 container (systemd $(in_ct systemctl --version | head -n 1 | cut -d' ' -f2))"

if [ -n "$missing" ]; then
	in_ct sh -c 'cd /root/debs && dpkg -i $(ls *.deb | grep -v "^flux_")' >"$WORK/libs.log" 2>&1 ||
		{ cat "$WORK/libs.log"; die "the runtime libraries did not install"; }
fi
in_ct env DEBIAN_FRONTEND=noninteractive dpkg -i "/root/debs/${DEB1##*/}" >"$WORK/ct-i.log" 2>&1 ||
	{ cat "$WORK/ct-i.log"; die "dpkg -i V1 in the container"; }
[ "$(in_ct systemctl is-enabled fluxd 2>&1)" = disabled ] &&
	[ "$(in_ct systemctl is-active fluxd 2>&1)" = inactive ] &&
	pass "systemd: V1 installed, fluxd.service disabled and not started" ||
	fail "V1: fluxd is $(in_ct systemctl is-enabled fluxd 2>&1), $(in_ct systemctl is-active fluxd 2>&1)"

# The site: one PowerPack at a simulator, manual $KW kW; unpinned, SCHED_OTHER (a container).
cat >"$ROOT/etc/flux/site.yaml" <<EOF
site:
  cycle: 100ms
  strategy: {mode: manual, setpoint_kw: $KW}
rt: {io_cpu: -1, control_cpu: -1, io_priority: 0, control_priority: 0}
devices:
  bess:
    - {id: "bess-1", type: powerpack,
       modbus: {host: "127.0.0.1", port: $PORT, address: 1, timeout: 500ms, retry_count: 3}}
EOF
cp "$ROOT/etc/flux/site.yaml" "$WORK/site.yaml"
cat >"$ROOT/etc/systemd/system/flux-sim.service" <<EOF
[Unit]
Description=PowerPack simulator for tests/deploy/deb.sh
[Service]
ExecStart=/usr/bin/flux sim powerpack --port $PORT
EOF
in_ct systemctl daemon-reload
in_ct systemctl start flux-sim || die "flux-sim did not start"
in_ct systemctl enable --now fluxd >/dev/null 2>&1 ||
	{ in_ct journalctl -u fluxd --no-pager | tail -n 30; die "systemctl enable --now fluxd"; }
wait_2008 $KW && pass "the site's fluxd (enabled, started) writes $KW kW" || die "2008 never read $KW"
pid1=$(main_pid)

# V2 over V1, the config valid: restarted onto the new binary.
in_ct env DEBIAN_FRONTEND=noninteractive dpkg -i "/root/debs/${DEB2##*/}" >"$WORK/ct-up2.log" 2>&1 ||
	{ cat "$WORK/ct-up2.log"; fail "dpkg -i V2 over V1"; }
sed 's/^/deb:   | /' "$WORK/ct-up2.log" | grep 'flux:'
pid2=$(main_pid)
[ "$pid2" != "$pid1" ] && [ "$pid2" != 0 ] && [ "$(in_ct systemctl is-active fluxd)" = active ] &&
	grep -q 'restarting fluxd' "$WORK/ct-up2.log" &&
	pass "upgrade V1 -> V2, config valid: fluxd restarted (pid $pid1 -> $pid2)" ||
	fail "upgrade V1 -> V2: pid $pid1 -> $pid2, $(in_ct systemctl is-active fluxd)"
cmp -s "$ROOT/etc/flux/site.yaml" "$WORK/site.yaml" && pass "upgrade kept the site's /etc/flux/site.yaml" ||
	fail "upgrade changed /etc/flux/site.yaml"
[ "$(in_ct systemctl is-enabled fluxd)" = enabled ] && pass "upgrade kept fluxd enabled" ||
	fail "upgrade: fluxd is $(in_ct systemctl is-enabled fluxd)"
wait_2008 $KW && pass "the new fluxd writes $KW kW" || fail "after V2: 2008 is $(read_2008)"

# V3 over V2, the config broken: the V2 fluxd keeps running, the install says why.
sed -i 's/^  cycle: 100ms$/  cycle: 20s/' "$ROOT/etc/flux/site.yaml"
in_ct env DEBIAN_FRONTEND=noninteractive dpkg -i "/root/debs/${DEB3##*/}" >"$WORK/ct-up3.log" 2>&1
rc=$?
sed 's/^/deb:   | /' "$WORK/ct-up3.log" | grep 'flux:'
pid3=$(main_pid)
[ $rc = 0 ] && [ "$pid3" = "$pid2" ] && [ "$(in_ct systemctl is-active fluxd)" = active ] &&
	grep -q 'fluxd NOT restarted' "$WORK/ct-up3.log" && grep -q 'site.cycle' "$WORK/ct-up3.log" &&
	pass "upgrade V2 -> V3, config broken: not restarted (pid $pid3 runs on), the error named" ||
	fail "upgrade V2 -> V3 broken config: dpkg exit $rc, pid $pid2 -> $pid3, $(in_ct systemctl is-active fluxd)"
[ "$(in_ct dpkg-query -W -f='${Version} ${Status}' flux)" = "$V3 install ok installed" ] &&
	pass "V3 installed ($V3, configured)" || fail "V3: $(in_ct dpkg-query -W -f='${Version} ${Status}' flux)"
exe=$(in_ct readlink "/proc/$pid3/exe")
[ "$exe" = "/usr/bin/fluxd (deleted)" ] && pass "the fluxd running is the old binary ($exe)" ||
	fail "the running fluxd's binary: $exe"
wait_2008 $KW && pass "the old fluxd still controls: $KW kW" || fail "after V3: 2008 is $(read_2008)"

# Purge while it runs: stopped (0 kW), and nothing of it left in systemd.
in_ct dpkg --purge flux >"$WORK/ct-purge.log" 2>&1 || { cat "$WORK/ct-purge.log"; fail "dpkg --purge in the container"; }
wait_2008 0 && pass "purge stopped fluxd: 0 kW at the BESS" || fail "after purge: 2008 is $(read_2008)"
left=$(for p in /lib/systemd/system/fluxd.service /etc/systemd/system/multi-user.target.wants/fluxd.service \
	/var/lib/systemd/deb-systemd-helper-enabled/fluxd.service.dsh-also \
	/var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/fluxd.service \
	/etc/flux /usr/bin/fluxd /usr/share/flux /run/flux; do [ -e "$ROOT$p" ] && echo "$p"; done)
in_ct systemctl is-active --quiet fluxd && left="$left (fluxd active)"
[ -z "$left" ] && pass "purge under systemd: no unit, enable link, state, config or /run/flux left" ||
	fail "purge under systemd left: $left"

say "$(($(date +%s) - t0)) s"
[ $FAILED = 0 ] && say "all passed" || say "FAILED"
exit $FAILED
