/*
 * breaker.h - a circuit breaker, resilience4j's model, for one worker's
 * view of one stage slot.
 *
 *            failure or slow rate >= threshold        wait_open_ns passed
 *   CLOSED ───(window has >= min_calls)────▶ OPEN ────(next call asks)───▶ HALF_OPEN
 *      ▲                                      ▲                               │
 *      │                                      └── a permitted call's rate ────┤
 *      └──────────── the permitted calls' rates stay under thresholds ────────┘
 *
 * CLOSED: every call runs; each outcome goes into the sliding window
 * (the last `window` calls, or the calls of the last `window` seconds).
 * When the window holds at least min_calls and the failure rate reaches
 * failure_pct, or the slow-call rate (calls longer than slow_ns) reaches
 * slow_pct, it opens. OPEN: calls are refused (the caller answers
 * NX_EBREAKER or the slot's degraded answer) until wait_open_ns has
 * passed; then the next call moves it to HALF_OPEN. HALF_OPEN: exactly
 * half_open_calls calls run (more are refused); when all have reported,
 * it closes if their failure and slow rates are under the thresholds,
 * and opens again otherwise.
 *
 * One writer: the worker that runs the slot. No clock is read here; the
 * caller passes `now` in its own time unit (the worker: TSC ticks; tests:
 * anything), and the conf's durations in the same unit. No allocation:
 * the window lives inside the struct.
 */
#ifndef NX_CORE_BREAKER_H
#define NX_CORE_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

#include "shm/abi/health.h"

#define NX_BRK_WINDOW_MAX 256 /* calls (count window) or seconds (time window) */

/* enum nx_brk_state (CLOSED, OPEN, HALF_OPEN): shm/abi/health.h, where the
 * health segment shows each worker's breaker for each slot. */

/* What an operator may force (nxctl breaker PIPELINE SLOT open|close|auto). */
enum nx_brk_force {
	NX_BRK_FORCE_AUTO = 0,
	NX_BRK_FORCE_OPEN = 1,
	NX_BRK_FORCE_CLOSED = 2,
};

enum nx_brk_kind {
	NX_BRK_COUNT = 0, /* the last `window` calls */
	NX_BRK_TIME = 1,  /* the calls of the last `window` seconds (1-second buckets) */
};

struct nx_brk_conf {
	uint32_t kind;            /* enum nx_brk_kind */
	uint32_t window;          /* 1..NX_BRK_WINDOW_MAX calls or seconds */
	uint32_t min_calls;       /* >= 1, <= window for COUNT: no decision on fewer calls */
	uint32_t failure_pct;     /* 1..100: open at this failure rate (100: only all failed) */
	uint32_t slow_pct;        /* 1..100, or 0: slow calls never open it */
	uint32_t half_open_calls; /* >= 1: calls let through in HALF_OPEN */
	uint64_t slow_ns;         /* a call taking longer is slow (in the caller's unit) */
	uint64_t wait_open_ns;    /* time in OPEN before trying again (caller's unit) */
	uint64_t second;          /* one second in the caller's unit (for NX_BRK_TIME) */
};

/* resilience4j's defaults: count window of 100, min 100 calls, 50%
 * failures, slow calls off, 60 s open, 10 calls half-open. */
void nx__brk_conf_default(struct nx_brk_conf *c, uint64_t second);

/**
 * Check a configuration. @return 0, or NX_EINVAL with a message saying
 * which field is out of range (nx__err)
 */
int nx__brk_conf_check(const struct nx_brk_conf *c);

/* One bucket of a time window, or one call of a count window. */
struct nx_brk_bucket {
	uint64_t epoch;  /* TIME: the second this bucket holds (now / second) */
	uint32_t calls;
	uint32_t failures;
	uint32_t slow;
	uint32_t pad;
};

struct nx_breaker {
	uint32_t state;            /* enum nx_brk_state */
	uint32_t forced;           /* enum nx_brk_force */
	uint64_t opened_at;        /* when it last opened */
	/* the window's totals and ring */
	uint32_t calls, failures, slow;
	uint32_t head;             /* COUNT: next slot to overwrite */
	/* HALF_OPEN: calls let through, and how those that reported went */
	uint32_t ho_permitted, ho_calls, ho_failures, ho_slow;
	/* counted for the health segment */
	uint64_t opened, half_opened, closed; /* transitions into each state */
	uint64_t rejected;         /* calls refused while OPEN (or HALF_OPEN full) */
	struct nx_brk_bucket ring[NX_BRK_WINDOW_MAX];
};

/** A closed breaker with an empty window. */
void nx__brk_init(struct nx_breaker *b);

/**
 * May a call run now? Moves OPEN to HALF_OPEN when the wait is over, and
 * counts the permitted half-open call. A refused call is counted in
 * `rejected`. With b->forced set, OPEN refuses everything and CLOSED
 * permits everything (and records nothing into the state machine until
 * released to auto with nx__brk_force(b, 0, now)).
 */
bool nx__brk_allow(struct nx_breaker *b, const struct nx_brk_conf *c, uint64_t now);

/**
 * The outcome of a call nx__brk_allow permitted: failed, and its duration
 * (compared with slow_ns). May open or close the breaker.
 */
void nx__brk_record(struct nx_breaker *b, const struct nx_brk_conf *c, uint64_t now, bool failed,
		   uint64_t duration);

/**
 * An operator's order (enum nx_brk_force): force open, force closed, or
 * hand it back to the state machine (auto), which then starts CLOSED with
 * an empty window. state follows (OPEN or CLOSED); a change of state is
 * counted as a transition like any other.
 */
void nx__brk_force(struct nx_breaker *b, uint32_t force, uint64_t now);

/** "closed", "open", "half-open". */
const char *nx__brk_state_name(uint32_t state);

#endif /* NX_CORE_BREAKER_H */
