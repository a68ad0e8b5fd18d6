#!/bin/sh
# SPDX-License-Identifier: MIT
# Apply the real-time tunings that need no reboot, for the CPUs fluxd's RT threads run on, and
# print the kernel command line that does the rest at boot. `--dry-run` prints every write it
# would make and makes none (what the tests run). Installed as flux-rt-tune.
#
# Runtime tunings (lost at reboot; run it from a boot unit or re-run after each boot):
#   IRQ affinity        every /proc/irq/N/smp_affinity_list and default_smp_affinity to the
#                       housekeeping CPUs (the online CPUs minus the RT ones)
#   workqueues          /sys/devices/virtual/workqueue/cpumask to the housekeeping CPUs
#   cpufreq governor    performance on every CPU that has cpufreq
#   RT throttling       kernel.sched_rt_runtime_us = -1
#   timer migration     kernel.timer_migration = 0 (timers stay where they were armed)
#
# usage: rt-tune.sh [--dry-run] [--cpus LIST | -c FILE]
#   --cpus LIST   the RT CPUs (cpulist, e.g. 1 or 2-3); default: the config's, else 1
#   -c FILE       read the RT CPUs from a site config (runs `fluxd --preflight --json`)
#   --dry-run     show, do not write
# exit: 0 done (or shown), 1 some writes failed or not root, 2 usage
set -u

dry=0
cpus=
config=
fluxd=${FLUXD:-fluxd}

usage() {
	sed -n 's/^# \{0,1\}//; /^usage:/,/^exit:/p' "$0" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--dry-run|-n) dry=1 ;;
	--cpus) [ $# -ge 2 ] || usage; cpus=$2; shift ;;
	--cpus=*) cpus=${1#--cpus=} ;;
	-c|--config) [ $# -ge 2 ] || usage; config=$2; shift ;;
	-h|--help) usage ;;
	*) echo "rt-tune: unknown argument '$1'" >&2; usage ;;
	esac
	shift
done

# ---- cpulists -----------------------------------------------------------------------

# Expand a cpulist ("0-2,5") into one number per line.
expand() {
	echo "$1" | tr ',' '\n' | while IFS=- read -r lo hi; do
		[ -n "$lo" ] || continue
		case $lo$hi in *[!0-9]*) echo "rt-tune: bad CPU list '$1'" >&2; return 1 ;; esac
		i=$lo
		while [ "$i" -le "${hi:-$lo}" ]; do echo "$i"; i=$((i + 1)); done
	done
}

# Join numbers (one per line on stdin) into a cpulist with ranges.
join() {
	sort -n -u | awk 'NR == 1 { lo = hi = $1; next }
		$1 == hi + 1 { hi = $1; next }
		{ printf "%s%s,", lo, (hi > lo ? "-" hi : ""); lo = hi = $1 }
		END { if (NR) printf "%s%s", lo, (hi > lo ? "-" hi : "") }'
}

# A cpulist as the hex mask /proc/irq/default_smp_affinity and the workqueue cpumask take
# (32-bit words separated by commas, the first without leading zeros, as the kernel prints).
mask() {
	list=$(expand "$1") || return 1
	top=0
	for c in $list; do [ $((c / 32)) -gt $top ] && top=$((c / 32)); done
	out=
	w=$top
	while [ $w -ge 0 ]; do
		m=0
		for c in $list; do [ $((c / 32)) = $w ] && m=$((m | (1 << (c % 32)))); done
		if [ $w = $top ]; then out=$(printf %x $m); else out=$out,$(printf %08x $m); fi
		w=$((w - 1))
	done
	echo "$out"
}

# ---- which CPUs -----------------------------------------------------------------------

if [ -z "$cpus" ] && [ -n "$config" ]; then
	json=$("$fluxd" --preflight --json -c "$config" 2>&1)
	case $? in 0|1|3) ;; *) echo "rt-tune: $fluxd --preflight -c $config: $json" >&2; exit 2 ;; esac
	cpus=$(echo "$json" | sed -n 's/.*"rt_cpus":"\([0-9,-]*\)".*/\1/p')
	if [ -z "$cpus" ]; then
		echo "rt-tune: $config pins no RT CPU (rt: io_cpu/control_cpu -1): nothing to tune" >&2
		exit 2
	fi
fi
online=$(cat /sys/devices/system/cpu/online 2>/dev/null || echo 0)
[ -n "$cpus" ] || cpus=1
rt=$(expand "$cpus") || exit 2
all=$(expand "$online") || exit 2
for c in $rt; do
	if ! echo "$all" | grep -qx "$c"; then
		echo "rt-tune: RT CPU $c is not online (online: $online)" >&2
		exit 2
	fi
done
hk=$(echo "$all" | grep -vx -F "$rt" | join)
if [ -z "$hk" ]; then
	echo "rt-tune: RT CPUs $cpus are every online CPU ($online): none left for housekeeping" >&2
	exit 2
fi
rtl=$(echo "$rt" | join)

if [ $dry = 0 ] && [ "$(id -u)" != 0 ]; then
	echo "rt-tune: needs root to write /proc and /sys (--dry-run shows what it would do)" >&2
	exit 1
fi

# ---- applying ---------------------------------------------------------------------------

failed=0
changed=0
# put VALUE FILE [WHAT]: write VALUE to FILE unless it holds it already; --dry-run says it.
put() {
	cur=$(cat "$2" 2>/dev/null) || { echo "  skip   $2 (unreadable)"; return 0; }
	if [ "$cur" = "$1" ]; then
		return 0
	fi
	if [ $dry = 1 ]; then
		echo "  would  echo $1 > $2   (now $cur)${3:+  # $3}"
		changed=$((changed + 1))
	elif (echo "$1" > "$2") 2>/dev/null; then
		echo "  set    $2 = $1   (was $cur)"
		changed=$((changed + 1))
	else
		echo "  FAILED $2 = $1 (stays $cur)${3:+  # $3}"
		failed=$((failed + 1))
	fi
}

mode=
[ $dry = 1 ] && mode=', dry run'
echo "rt-tune: RT CPUs $rtl, housekeeping CPUs $hk (online $online)$mode"

echo "IRQ affinity -> CPUs $hk"
put "$(mask "$hk")" /proc/irq/default_smp_affinity "new IRQs"
for f in /proc/irq/[0-9]*/smp_affinity_list; do
	[ -e "$f" ] || continue
	cur=$(cat "$f" 2>/dev/null) || continue
	# Only IRQs that may land on an RT CPU; per-CPU and managed IRQs refuse (said, not fatal).
	touches=0
	for c in $(expand "$cur" 2>/dev/null); do
		echo "$rt" | grep -qx "$c" && touches=1
	done
	[ $touches = 1 ] && put "$hk" "$f" "irq $(basename "$(dirname "$f")")"
done

echo "workqueues -> CPUs $hk"
[ -e /sys/devices/virtual/workqueue/cpumask ] &&
	put "$(mask "$hk")" /sys/devices/virtual/workqueue/cpumask "unbound workqueues"

echo "cpufreq governor -> performance"
gov=0
for f in /sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_governor; do
	[ -e "$f" ] || continue
	gov=1
	put performance "$f"
done
[ $gov = 1 ] ||
	echo "  none   no cpufreq here (VM or no driver): set the BIOS to maximum performance"

echo "scheduler"
put -1 /proc/sys/kernel/sched_rt_runtime_us "no RT throttling"
[ -e /proc/sys/kernel/timer_migration ] &&
	put 0 /proc/sys/kernel/timer_migration "timers stay on the CPU that armed them"

if pgrep -x irqbalance >/dev/null 2>&1; then
	echo "note: irqbalance is running and may move IRQs back onto CPU $rtl:"
	echo "      IRQBALANCE_BANNED_CPULIST=$rtl in /etc/default/irqbalance, then restart it"
fi

cat <<EOF

Kernel command line for what needs a reboot (isolation of CPU $rtl from tasks, the tick,
RCU callbacks and IRQs at boot). Add it to GRUB_CMDLINE_LINUX in /etc/default/grub, then
run update-grub and reboot:

  isolcpus=managed_irq,domain,$rtl nohz_full=$rtl rcu_nocbs=$rtl irqaffinity=$hk

Keep the sysctls across reboots with /etc/sysctl.d/90-flux-rt.conf:

  kernel.sched_rt_runtime_us = -1
  kernel.timer_migration = 0

Then check: fluxd --preflight -c /etc/flux/site.yaml
EOF

if [ $dry = 1 ]; then
	echo "rt-tune: dry run: $changed change(s) shown, none made"
	exit 0
fi
echo "rt-tune: $changed change(s) made, $failed failed"
[ $failed = 0 ]
