/*
 * A slot's policies from its pipeline section, and what building and
 * destroying a slot does with them.
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

#include "core_internal.h"
#include "graph.h"

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
		nx_brk_conf_default(&ps->brk, 1000000000ull);
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
		rc = nx_brk_conf_check(&ps->brk);
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

/* Build a slot's policies from its spec, after its stage was created. */
int
nx__policy_build(struct nx_slot *s, const struct nx_policy_spec *ps, const char *pipe,
		 const struct nx_build_env *env)
{
	struct nx_slot_policy *pol = &s->pol;
	int rc;

	memset(pol, 0, sizeof *pol);
	if (!ps->set)
		return 0;
	rc = nx__policy_check(ps, pipe, s->name);
	if (rc < 0)
		return rc;
	pol->breaker = ps->breaker;
	pol->budget_fails = ps->budget_fails;
	pol->contain = ps->contain;
	pol->degraded = ps->degraded;
	pol->budget = ps->budget_ns != 0 ? nx_ns_to_ticks(ps->budget_ns) : 0;
	if (pol->budget == 0 && ps->budget_ns != 0)
		pol->budget = 1;
	if (ps->breaker) {
		pol->brk = ps->brk;
		pol->brk.slow_ns = nx_ns_to_ticks(ps->brk.slow_ns);
		pol->brk.wait_open_ns = nx_ns_to_ticks(ps->brk.wait_open_ns);
		pol->brk.second = nx_ns_to_ticks(1000000000ull);
	}
	pol->nworkers = env != NULL && env->nworkers != 0 ? env->nworkers : 1;
	if (ps->degraded == NX_DEG_FALLBACK) {
		struct nx_slot_spec fs;

		memset(&fs, 0, sizeof fs);
		strcpy(fs.name, s->name);
		strcpy(fs.stage, ps->fallback);
		strcpy(fs.plugin, ps->fallback_plugin);
		rc = nx__stage_inst_create(&pol->fallback, &fs, 1, env);
		if (rc < 0)
			return nx__err_ctx(rc, "pipeline %s: slot %s: fallback", pipe, s->name);
	}
	if (ps->degraded == NX_DEG_CACHE) {
		uint64_t bytes;

		pol->cache_entries = ps->cache_entries != 0 ? ps->cache_entries : 256;
		pol->cache_bytes = ps->cache_bytes != 0 ? ps->cache_bytes : 256;
		pol->stage_out_cap = env != NULL && env->max_payload != 0 ? env->max_payload : 65536;
		if (pol->cache_bytes > pol->stage_out_cap)
			return nx__err(NX_EINVAL, "pipeline %s: slot %s: cache-bytes = %u is more than "
				       "the largest payload (%u)", pipe, s->name, pol->cache_bytes,
				       pol->stage_out_cap);
		/* an entry: input length, answer length, hash, then both payloads */
		pol->cache_entry_bytes = (uint32_t)((16 + 2 * pol->cache_bytes + 63) / 64 * 64);
		pol->stage_bytes = (pol->cache_bytes + 63) / 64 * 64 +
				   (pol->stage_out_cap + 63) / 64 * 64;
		bytes = (uint64_t)pol->nworkers *
			((uint64_t)pol->cache_entries * pol->cache_entry_bytes + pol->stage_bytes);
		pol->cache = aligned_alloc(64, bytes);
		if (pol->cache == NULL) {
			nx__policy_destroy(s);
			return nx__err(NX_ENOMEM, "pipeline %s: slot %s: a cache of %llu bytes", pipe,
				       s->name, (unsigned long long)bytes);
		}
		memset(pol->cache, 0, bytes);
	}
	pol->on = true;
	return 0;
}

void
nx__policy_destroy(struct nx_slot *s)
{
	nx__stage_inst_destroy(s->pol.fallback);
	free(s->pol.cache);
	s->pol.fallback = NULL;
	s->pol.cache = NULL;
	s->pol.on = false;
}
