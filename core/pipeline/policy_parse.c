/*
 * A slot's policies from its pipeline section: the SLOT.key names that
 * are the slot's own (pipe_build.c builds them, policy_run.c runs them).
 *
 *   [pipeline.lookup]
 *   graph = seq(parse, db)
 *   db.stage = fetch
 *   db.breaker = count              ; off | count | time
 *   db.breaker-window = 20          ; calls (count) or seconds (time)
 *   db.breaker-min-calls = 10
 *   db.breaker-failure-pct = 50
 *   db.breaker-slow-pct = 80        ; 0: slow calls never open it
 *   db.breaker-slow-us = 200        ; a call longer than this is slow
 *   db.breaker-wait-ms = 1000       ; open this long, then half-open
 *   db.breaker-half-open = 5        ; calls let through half-open
 *   db.budget-us = 50               ; the slot's time budget
 *   db.over-budget = slow           ; slow | fail: what an overrun counts as
 *   db.degraded = cache             ; fail | skip | fallback | cache
 *   db.fallback = echo              ; fallback: the stage (and fallback-plugin)
 *   db.cache-entries = 1024         ; cache: entries per worker (power of two)
 *   db.cache-bytes = 256            ; cache: largest input and answer kept
 *   db.contain-faults = on          ; SIGSEGV/SIGFPE/SIGBUS/SIGILL in process: quarantine
 *
 * These names are the slot's own; every other SLOT.key is a parameter of
 * its stage.
 */
#include <stdlib.h>
#include <string.h>

#include "core/pipeline/pipe.h"
#include "platform/nx_platform.h"

static int
num(const char *pipe, const char *slot, const char *key, const char *value, uint64_t lo,
    uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (value[0] == '\0' || value[0] == '-')
		goto bad;
	v = strtoull(value, &end, 10);
	if (*end != '\0' || v < lo || v > hi)
		goto bad;
	*out = v;
	return 0;
bad:
	return nx__err(NX_EINVAL, "pipeline %s: slot %s: %s = '%s': expected %llu to %llu", pipe,
		       slot, key, value, (unsigned long long)lo, (unsigned long long)hi);
}

static int
onoff(const char *pipe, const char *slot, const char *key, const char *value, bool *out)
{
	if (strcmp(value, "on") == 0 || strcmp(value, "1") == 0 || strcmp(value, "yes") == 0) {
		*out = true;
		return 0;
	}
	if (strcmp(value, "off") == 0 || strcmp(value, "0") == 0 || strcmp(value, "no") == 0) {
		*out = false;
		return 0;
	}
	return nx__err(NX_EINVAL, "pipeline %s: slot %s: %s = '%s': expected on or off", pipe, slot,
		       key, value);
}

/* A breaker key turns the breaker on with resilience4j's defaults first. */
static void
breaker_on(struct nx_policy_spec *ps)
{
	if (!ps->breaker) {
		nx__brk_conf_default(&ps->brk, 1000000000ull);
		ps->breaker = true;
	}
}

int
nx__policy_set(struct nx_policy_spec *ps, const char *pipe, const char *slot, const char *key,
	       const char *value)
{
	uint64_t v = 0;
	int rc = 0;

	if (strcmp(key, "breaker") == 0) {
		if (strcmp(value, "off") == 0) {
			ps->breaker = false;
		} else if (strcmp(value, "count") == 0 || strcmp(value, "time") == 0) {
			breaker_on(ps);
			ps->brk.kind = value[0] == 'c' ? NX_BRK_COUNT : NX_BRK_TIME;
		} else {
			return nx__err(NX_EINVAL, "pipeline %s: slot %s: breaker = '%s': expected off, "
				       "count or time", pipe, slot, value);
		}
	} else if (strncmp(key, "breaker-", 8) == 0) {
		const char *k = key + 8;

		breaker_on(ps);
		if (strcmp(k, "window") == 0 &&
		    (rc = num(pipe, slot, key, value, 1, NX_BRK_WINDOW_MAX, &v)) == 0) {
			ps->brk.window = (uint32_t)v;
			/* the default minimum (100 calls) cannot exceed a smaller window */
			if (ps->brk.kind == NX_BRK_COUNT && ps->brk.min_calls > v)
				ps->brk.min_calls = (uint32_t)v;
		}
		else if (strcmp(k, "min-calls") == 0 &&
			 (rc = num(pipe, slot, key, value, 1, 1000000, &v)) == 0)
			ps->brk.min_calls = (uint32_t)v;
		else if (strcmp(k, "failure-pct") == 0 &&
			 (rc = num(pipe, slot, key, value, 1, 100, &v)) == 0)
			ps->brk.failure_pct = (uint32_t)v;
		else if (strcmp(k, "slow-pct") == 0 &&
			 (rc = num(pipe, slot, key, value, 0, 100, &v)) == 0)
			ps->brk.slow_pct = (uint32_t)v;
		else if (strcmp(k, "slow-us") == 0 &&
			 (rc = num(pipe, slot, key, value, 1, 60000000, &v)) == 0)
			ps->brk.slow_ns = v * 1000;
		else if (strcmp(k, "wait-ms") == 0 &&
			 (rc = num(pipe, slot, key, value, 1, 3600000, &v)) == 0)
			ps->brk.wait_open_ns = v * 1000000;
		else if (strcmp(k, "half-open") == 0 &&
			 (rc = num(pipe, slot, key, value, 1, 100000, &v)) == 0)
			ps->brk.half_open_calls = (uint32_t)v;
		else if (rc == 0)
			return nx__err(NX_EINVAL, "pipeline %s: slot %s: unknown breaker key '%s' (window, "
				       "min-calls, failure-pct, slow-pct, slow-us, wait-ms, half-open)",
				       pipe, slot, key);
	} else if (strcmp(key, "budget-us") == 0) {
		rc = num(pipe, slot, key, value, 1, 60000000, &v);
		ps->budget_ns = v * 1000;
	} else if (strcmp(key, "over-budget") == 0) {
		if (strcmp(value, "slow") != 0 && strcmp(value, "fail") != 0)
			return nx__err(NX_EINVAL, "pipeline %s: slot %s: over-budget = '%s': expected "
				       "slow or fail", pipe, slot, value);
		ps->budget_fails = value[0] == 'f';
	} else if (strcmp(key, "degraded") == 0) {
		static const char *const names[] = { "fail", "skip", "fallback", "cache" };
		unsigned i;

		for (i = 0; i < 4 && strcmp(value, names[i]) != 0; i++)
			;
		if (i == 4)
			return nx__err(NX_EINVAL, "pipeline %s: slot %s: degraded = '%s': expected fail, "
				       "skip, fallback or cache", pipe, slot, value);
		ps->degraded = i;
	} else if (strcmp(key, "fallback") == 0) {
		if (value[0] == '\0' || strlen(value) >= sizeof ps->fallback)
			return nx__err(NX_EINVAL, "pipeline %s: slot %s: fallback: a stage name",
				       pipe, slot);
		strcpy(ps->fallback, value);
	} else if (strcmp(key, "fallback-plugin") == 0) {
		if (value[0] == '\0' || strlen(value) >= sizeof ps->fallback_plugin)
			return nx__err(NX_EINVAL, "pipeline %s: slot %s: fallback-plugin: path empty or "
				       "too long", pipe, slot);
		strcpy(ps->fallback_plugin, value);
	} else if (strcmp(key, "cache-entries") == 0) {
		rc = num(pipe, slot, key, value, 1, 65536, &v);
		if (rc == 0 && (v & (v - 1)) != 0)
			rc = nx__err(NX_EINVAL, "pipeline %s: slot %s: cache-entries = %s: a power of two",
				     pipe, slot, value);
		ps->cache_entries = (uint32_t)v;
	} else if (strcmp(key, "cache-bytes") == 0) {
		rc = num(pipe, slot, key, value, 1, 4096, &v);
		ps->cache_bytes = (uint32_t)v;
	} else if (strcmp(key, "contain-faults") == 0) {
		rc = onoff(pipe, slot, key, value, &ps->contain);
	} else {
		return 1; /* a parameter of the stage */
	}
	if (rc == 0)
		ps->set = true;
	return rc;
}

/* Checks that need the whole section. */
int
nx__policy_check(const struct nx_policy_spec *ps, const char *pipe, const char *slot)
{
	int rc;

	if (!ps->set)
		return 0;
	if (ps->breaker) {
		rc = nx__brk_conf_check(&ps->brk);
		if (rc < 0)
			return nx__err_ctx(rc, "pipeline %s: slot %s: breaker", pipe, slot);
	}
	if (ps->degraded == NX_DEG_FALLBACK && ps->fallback[0] == '\0')
		return nx__err(NX_EINVAL, "pipeline %s: slot %s: degraded = fallback needs "
			       "%s.fallback = STAGE", pipe, slot, slot);
	if (ps->degraded != NX_DEG_FALLBACK && ps->fallback[0] != '\0')
		return nx__err(NX_EINVAL, "pipeline %s: slot %s: fallback is set but degraded is not "
			       "fallback", pipe, slot);
	return 0;
}
