/* SPDX-License-Identifier: MIT */
/*
 * The USDT probes of fluxd, listed once: FLUX_PROBES(X) calls X(name, thread, (args)) for
 * each, in this order. Everything that names a probe is generated from it or checked
 * against it:
 *   - rt/probe.h: the semaphores, and FLUX_PROBE()'s argument count at every call site;
 *   - bpf/fluxtrace.h: the probe counters (FT_C_<name>); bpf/fluxtrace.bpf.c asserts that it
 *     has one program per probe, bpf/fluxtrace.c derives its names and attach tables;
 *   - mk/probes.sh (`make lint`): the .bt scripts, fluxtrace.bpf.c's BPF_USDT() arguments and
 *     the probe table in docs/latency.md use these names and argument counts.
 *
 * This header is the pure list (no includes, no definitions) so that the BPF program,
 * compiled by clang -target bpf, can include it: rt/probe.h defines the semaphore variables
 * in every file that includes it and pulls in <sys/sdt.h>'s host assembly.
 *
 * Provider "flux". Times are CLOCK_MONOTONIC ns (the clock bpf_ktime_get_ns() reads); dev is
 * the device index (BESS first, in config order, then meters); cycle is the control cycle id
 * that POLL and WRITE commands carry and their samples and acks echo. Arguments:
 *   cycle_start      planned_ns: the grid deadline; wake_ns: the actual wake-up
 *   cycle_end        end_ns: the snapshot published
 *   poll_push        ndev: POLLs pushed, one per device
 *   request_sent     attempt: 1 = first
 *   response_parsed  err: 0, -MB_EXC(code) or a named -MB_E* error
 *   sample_consumed  soe_pct_x100: the SOE in 0.01 %; t_cmd_ns: when its POLL was pushed
 *   setpoint_push    kw: the int16 written; addr: the register
 *   write_ack        kw: acknowledged; t_done_ns: the echo parsed
 *
 * sample_consumed fires for BESS samples without error (the ones that carry an SOE);
 * setpoint_push for target-power writes (not command-source claims, not the 0 kW at stop);
 * write_ack for their successful acknowledgements. What the latencies are made of:
 *   soe_read       poll_push -> sample_consumed of the same cycle
 *   setpoint_write setpoint_push -> response_parsed of a write to (dev, addr) (FC06 echo)
 *   cycle_jitter   planned_ns -> cycle_start (as the kernel's clock sees the probe)
 *   rtt            request_sent -> response_parsed of the same (dev, tid)
 */
#ifndef FLUX_RT_PROBE_LIST_H
#define FLUX_RT_PROBE_LIST_H

/*
 * X(name, thread, (arg0, arg1, ...)): thread is the one that fires it (ctl: flux-ctl, io:
 * flux-io, as rt/thread.h names them); at most 12 arguments (sys/sdt.h's limit).
 */
#define FLUX_PROBES(X)                                                                             \
	X(cycle_start, ctl, (cycle, planned_ns, wake_ns))                                          \
	X(cycle_end, ctl, (cycle, planned_ns, end_ns))                                             \
	X(poll_push, ctl, (cycle, ndev, t_push_ns))                                                \
	X(request_sent, io, (dev, fc, addr, tid, attempt))                                         \
	X(response_parsed, io, (dev, fc, addr, tid, err))                                          \
	X(sample_consumed, ctl, (dev, cycle, soe_pct_x100, t_cmd_ns))                              \
	X(setpoint_push, ctl, (dev, kw, addr, cycle))                                              \
	X(write_ack, ctl, (dev, kw, cycle, t_done_ns))

/* The number of arguments of a parenthesised list: FLUX_PROBE_NARGS((a, b)) is 2. */
#define FLUX_PROBE_NARGS(args) FLUX_PROBE_NARGS_ args
#define FLUX_PROBE_NARGS_(...)                                                                     \
	FLUX_PROBE_NARGS__(__VA_ARGS__, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define FLUX_PROBE_NARGS__(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, n, ...) n

/* A parenthesised list as a string: FLUX_PROBE_ARGS_STR((a, b)) is "a, b". */
#define FLUX_PROBE_ARGS_STR(args) FLUX_PROBE_ARGS_STR_ args
#define FLUX_PROBE_ARGS_STR_(...) #__VA_ARGS__

/* An index per probe, in list order: FLUX_PROBE_ID_cycle_start is 0; FLUX_NPROBES of them. */
#define FLUX_PROBE_ID_(name, thread, args) FLUX_PROBE_ID_##name,
enum flux_probe_id { FLUX_PROBES(FLUX_PROBE_ID_) FLUX_NPROBES };
#undef FLUX_PROBE_ID_

/* The argument count of each probe, by name: FLUX_PROBE_NARGS_OF_cycle_start is 3. */
#define FLUX_PROBE_NARGS_OF_(name, thread, args)                                                   \
	FLUX_PROBE_NARGS_OF_##name = FLUX_PROBE_NARGS(args),
enum flux_probe_nargs { FLUX_PROBES(FLUX_PROBE_NARGS_OF_) };
#undef FLUX_PROBE_NARGS_OF_

#endif /* FLUX_RT_PROBE_LIST_H */
