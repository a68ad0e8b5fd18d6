/* SPDX-License-Identifier: MIT */
/*
 * USDT probes of fluxd. Their names, threads and arguments are listed once, in
 * rt/probe_list.h (FLUX_PROBES); this header turns that list into semaphores and gives the
 * call: FLUX_PROBE(name, arg0, ...). Each probe has a semaphore (sys/sdt.h's
 * `_SDT_HAS_SEMAPHORES`): the kernel raises it while a tracer is attached, so an unattached
 * probe costs one load and a not-taken branch, and its arguments are not even computed.
 * Without <sys/sdt.h> (or with -DFLUX_NO_PROBES) every FLUX_PROBE() compiles to nothing;
 * either way a name that is not in the list, or the wrong number of arguments, fails to
 * compile.
 */
#ifndef FLUX_RT_PROBE_H
#define FLUX_RT_PROBE_H

#include "rt/probe_list.h"

/* A call names a listed probe and passes as many arguments as the list gives it. */
#define FLUX_PROBE_CHECK(name, ...)                                                                \
	_Static_assert(FLUX_PROBE_NARGS((__VA_ARGS__)) == FLUX_PROBE_NARGS_OF_##name,              \
		       "FLUX_PROBE(" #name "): not the argument count rt/probe_list.h gives")

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
#define FLUX_PROBE_SEMAPHORE(name, thread, args)                                                   \
	unsigned short flux_##name##_semaphore                                                     \
	    __attribute__((weak, unused, section(".probes"), visibility("hidden")));

FLUX_PROBES(FLUX_PROBE_SEMAPHORE)
#undef FLUX_PROBE_SEMAPHORE

/* Any thread: is a tracer attached to this probe? A volatile load: re-read every time. */
#define FLUX_PROBE_ENABLED(name)                                                                   \
	__builtin_expect(*(volatile unsigned short *)&flux_##name##_semaphore != 0, 0)

/* Any thread: fire probe `name` with its integer arguments, evaluated only if attached. */
#define FLUX_PROBE(name, ...)                                                                      \
	do {                                                                                       \
		FLUX_PROBE_CHECK(name, __VA_ARGS__);                                               \
		if (FLUX_PROBE_ENABLED(name))                                                      \
			STAP_PROBEV(flux, name, __VA_ARGS__);                                      \
	} while (0)

#else /* no <sys/sdt.h>: nothing, and the arguments are not evaluated */

#define FLUX_PROBE_ENABLED(name) 0
#define FLUX_PROBE(name, ...)                                                                      \
	do {                                                                                       \
		FLUX_PROBE_CHECK(name, __VA_ARGS__);                                               \
	} while (0)

#endif /* FLUX_HAS_PROBES */

#endif /* FLUX_RT_PROBE_H */
