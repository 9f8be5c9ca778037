/*
 * What the machine's own waiting and timing cost, measured on the client's
 * CPU before a run: nxbench prints it beside the figures, because every
 * latency here is made of them. A PAUSE is how long a side that waits may
 * take to see a line after it changed (every spin in nexus and in the
 * baselines pauses between looks); the TSC's step is the resolution of
 * the clock every latency is read with, where the clock derives from it (a
 * VM's TSC may step by many ticks at once); each op reads the clock once.
 */
#include <stdio.h>

#include "bench/bench.h"

#define PROBE_PAUSES 200000u
#define PROBE_TICKS 200000u
#define PROBE_CLOCKS 100000u
#define PROBE_STEPS 2000u

/* ns per iteration of n iterations that began at t0 */
static double
per(uint64_t t0, unsigned n)
{
	return (double)(nx__clock_ns() - t0) / n;
}

void
nxb_print_machine(const struct nxb_opts *o)
{
	volatile uint64_t sink = 0;
	uint64_t t0, prev, step = UINT64_MAX;
	double pause_ns, tsc_ns, clock_ns;
	unsigned i;

	if (nxb_pin_client(o, NULL) < 0) {
		printf("machine: not measured (%s)\n", nx__errmsg());
		return;
	}
	t0 = nx__clock_ns();
	for (i = 0; i < PROBE_PAUSES; i++)
		nx__cpu_relax();
	pause_ns = per(t0, PROBE_PAUSES);
	t0 = nx__clock_ns();
	for (i = 0; i < PROBE_TICKS; i++)
		sink += nx__ticks();
	tsc_ns = per(t0, PROBE_TICKS);
	t0 = nx__clock_ns();
	for (i = 0; i < PROBE_CLOCKS; i++)
		sink += nx__clock_ns();
	clock_ns = per(t0, PROBE_CLOCKS);
	/* the smallest step between two TSC reads that differ: a read costs
	 * about one step here, so most pairs are one step apart */
	nx__ticks_calibrate();
	prev = nx__ticks();
	for (i = 0; i < PROBE_STEPS; i++) {
		uint64_t now = nx__ticks();

		if (now > prev && now - prev < step)
			step = now - prev;
		prev = now;
	}
	(void)sink;
	printf("machine, on CPU %d: PAUSE %.1f ns, TSC read %.1f ns (it steps by %.1f ns), "
	       "clock read %.1f ns\n",
	       o->client_cpu, pause_ns, tsc_ns,
	       step == UINT64_MAX ? 0.0 : (double)nx__ticks_to_ns(step * 1000) / 1000, clock_ns);
}
