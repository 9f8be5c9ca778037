/*
 * grace.h - grace periods waited for by a thread of their own (grace.c),
 * so that the control thread never waits for one.
 */
#ifndef NX_CORE_GRACE_H
#define NX_CORE_GRACE_H

#include <stdbool.h>
#include <stdint.h>

struct nx_thread;

struct nx_grace {
	uint32_t requested;            /* tickets taken (control thread) */
	uint32_t completed;            /* grace periods done for tickets up to this (grace thread) */
	uint32_t stop;
	int notefd;                    /* rung when completed moves */
	struct nx_thread *thread;
	uint32_t *pub_requested;       /* the health header's copies, for readers */
	uint32_t *pub_completed;
};

/** Start the grace thread on cpu (-1: anywhere); it mirrors its counters in
 *  *pub (the health header's grace_requested, then grace_completed).
 *  @return 0 or the platform's error */
int nx__grace_start(struct nx_grace *g, int notefd, int cpu, uint32_t *pub_requested,
		    uint32_t *pub_completed);
/** Stop it (what it has not done stays undone: the caller decides). */
void nx__grace_stop(struct nx_grace *g);
/** A ticket for what was retired before this call. */
uint32_t nx__grace_request(struct nx_grace *g);
/** True once no worker can hold anything retired before the ticket. */
bool nx__grace_passed(const struct nx_grace *g, uint32_t ticket);

#endif /* NX_CORE_GRACE_H */
