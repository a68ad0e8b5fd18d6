/* SPDX-License-Identifier: MIT */
/*
 * USDT probes of fluxd: the one place their names and arguments are declared. fluxtrace
 * (bpf/fluxtrace.bpf.c), the bpftrace scripts (the .bt files in bpf/) and docs/design.md's
 * latency list use these names. Each probe has a semaphore (sys/sdt.h's
 * `_SDT_HAS_SEMAPHORES`): the kernel raises it while a tracer is attached, so an unattached
 * probe costs one load and a not-taken branch, and its arguments are not even computed.
 * Without <sys/sdt.h> (or with -DFLUX_NO_PROBES) every FLUX_PROBE() compiles to nothing.
 *
 * Provider "flux". Times are CLOCK_MONOTONIC ns (the clock bpf_ktime_get_ns() reads);
 * dev is the device index (BESS first, in config order, then meters); cycle is the control
 * cycle id that POLL and WRITE commands carry and their samples and acks echo.
 *
 * | probe           | thread   | arguments (arg0, arg1, ...)                                  |
 * | --------------- | -------- | ------------------------------------------------------------ |
 * | cycle_start     | flux-ctl | cycle, planned_ns (grid deadline), wake_ns (actual wake-up)   |
 * | cycle_end       | flux-ctl | cycle, planned_ns, end_ns (snapshot published)                |
 * | poll_push       | flux-ctl | cycle, ndev (POLLs pushed, one per device), t_push_ns          |
 * | request_sent    | flux-io  | dev, fc, addr, tid, attempt (1 = first)                      |
 * | response_parsed | flux-io  | dev, fc, addr, tid, err (0, -MB_EXC(code), -MB_E*: named)     |
 * | sample_consumed | flux-ctl | dev, cycle, soe_pct_x100 (SOE, 0.01 %), t_cmd_ns (its POLL)   |
 * | setpoint_push   | flux-ctl | dev, kw (int16 written), addr (register), cycle               |
 * | write_ack       | flux-ctl | dev, kw (acknowledged), cycle, t_done_ns (echo parsed)        |
 *
 * sample_consumed fires for BESS samples without error (the ones that carry an SOE);
 * setpoint_push for target-power writes (not command-source claims, not the 0 kW at stop);
 * write_ack for their successful acknowledgements. What the latencies are made of:
 *   soe_read       poll_push -> sample_consumed of the same cycle
 *   setpoint_write setpoint_push -> response_parsed of a write to (dev, addr) (FC06 echo)
 *   cycle_jitter   planned_ns -> cycle_start (as the kernel's clock sees the probe)
 *   rtt            request_sent -> response_parsed of the same (dev, tid)
 */
#ifndef FLUX_RT_PROBE_H
#define FLUX_RT_PROBE_H

#if !defined(FLUX_NO_PROBES) && defined(__has_include)
#if __has_include(<sys/sdt.h>)
#define FLUX_HAS_PROBES 1
#endif
#endif

#ifdef FLUX_HAS_PROBES

#define _SDT_HAS_SEMAPHORES 1
#define SDT_USE_VARIADIC    1
#include <sys/sdt.h>

/*
 * One semaphore per probe, named as sys/sdt.h expects (provider_name_semaphore), in the
 * .probes section where tracers look for it. Weak: every file that includes this header
 * defines them, the linker keeps one. The kernel (uprobe ref_ctr_offset) increments it
 * while a tracer is attached.
 */
#define FLUX_PROBE_SEMAPHORE(name)                                                                 \
	unsigned short flux_##name##_semaphore                                                     \
	    __attribute__((weak, unused, section(".probes"), visibility("hidden")))

FLUX_PROBE_SEMAPHORE(cycle_start);
FLUX_PROBE_SEMAPHORE(cycle_end);
FLUX_PROBE_SEMAPHORE(poll_push);
FLUX_PROBE_SEMAPHORE(request_sent);
FLUX_PROBE_SEMAPHORE(response_parsed);
FLUX_PROBE_SEMAPHORE(sample_consumed);
FLUX_PROBE_SEMAPHORE(setpoint_push);
FLUX_PROBE_SEMAPHORE(write_ack);

/* Any thread: is a tracer attached to this probe? A volatile load: re-read every time. */
#define FLUX_PROBE_ENABLED(name)                                                                   \
	__builtin_expect(*(volatile unsigned short *)&flux_##name##_semaphore != 0, 0)

/* Any thread: fire probe `name` with up to 12 integer arguments, evaluated only if attached. */
#define FLUX_PROBE(name, ...)                                                                      \
	do {                                                                                       \
		if (FLUX_PROBE_ENABLED(name))                                                      \
			STAP_PROBEV(flux, name, __VA_ARGS__);                                      \
	} while (0)

#else /* no <sys/sdt.h>: nothing, and the arguments are not evaluated */

#define FLUX_PROBE_ENABLED(name) 0
#define FLUX_PROBE(name, ...)                                                                      \
	do {                                                                                       \
	} while (0)

#endif /* FLUX_HAS_PROBES */

#endif /* FLUX_RT_PROBE_H */
