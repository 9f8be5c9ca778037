/*
 * Grace periods off the control thread. A grace period lasts as long as
 * the slowest worker's request: one stuck in a stage would hold the
 * control thread in nx__rcu_synchronize(), and with it every attach,
 * detach, reclaim and nxctl command, until nxwd restarts nxd for the
 * stall. So a thread of its own waits for them.
 *
 * The control thread retires an object (after unpublishing it) and takes
 * a ticket, nx__grace_request(); the grace thread runs one grace period
 * for every ticket taken before it started, sets completed, and rings the
 * control thread's notify fd. The control thread frees what it retired
 * once nx__grace_passed(ticket): two counters, no queue between threads.
 */
#include "platform/nx_rcu.h"
#include "shm/shm_internal.h"

#include "core/control/grace.h"

#define NX_GRACE_IDLE_NS 100000000ull /* how long the thread sleeps between checks for stop */

static void *
grace_main(void *arg)
{
	struct nx_grace *g = arg;

	while (ck_pr_load_32(&g->stop) == 0) {
		const uint32_t req = ck_pr_load_32(&g->requested);

		if (req == ck_pr_load_32(&g->completed)) {
			nx__futex_wait(&g->requested, req, NX_GRACE_IDLE_NS, false);
			continue;
		}
		nx__rcu_synchronize(); /* every ticket up to req was taken before this */
		ck_pr_store_32(&g->completed, req);
		nx__store32(g->pub_completed, req);
		nx__notify_signal(g->notefd);
	}
	return NULL;
}

int
nx__grace_start(struct nx_grace *g, int notefd, int cpu, uint32_t *pub_requested,
		uint32_t *pub_completed)
{
	g->notefd = notefd;
	g->requested = g->completed = g->stop = 0;
	g->pub_requested = pub_requested;
	g->pub_completed = pub_completed;
	nx__store32(pub_requested, 0);
	nx__store32(pub_completed, 0);
	return nx__thread_create(&g->thread, "nx-grace", cpu, grace_main, g);
}

void
nx__grace_stop(struct nx_grace *g)
{
	if (g->thread == NULL)
		return;
	ck_pr_store_32(&g->stop, 1);
	nx__futex_wake(&g->requested, 1, false);
	nx__thread_join(g->thread);
	g->thread = NULL;
}

uint32_t
nx__grace_request(struct nx_grace *g)
{
	const uint32_t ticket = ck_pr_load_32(&g->requested) + 1;

	ck_pr_store_32(&g->requested, ticket); /* one writer: the control thread */
	nx__store32(g->pub_requested, ticket);
	nx__futex_wake(&g->requested, 1, false);
	return ticket;
}

bool
nx__grace_passed(const struct nx_grace *g, uint32_t ticket)
{
	return (int32_t)(ck_pr_load_32((uint32_t *)&g->completed) - ticket) >= 0;
}
