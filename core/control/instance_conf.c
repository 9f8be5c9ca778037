/*
 * nxd's settings by name: the command line (--max-channels 128) and the
 * config file ([nxd] max_channels = 128) go through the same function, so
 * the two can never disagree about a key.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/nxd.h"
#include "core/pipeline/pipe.h"

static int
parse_u64(const char *key, const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long x;
	char *end;
	uint64_t mult = 1;

	if (v == NULL || *v == '\0' || *v == '-')
		return nx__err(NX_EINVAL, "%s: expected a number, got '%s'", key, v ? v : "");
	errno = 0;
	x = strtoull(v, &end, 0);
	if (errno != 0 || end == v)
		return nx__err(NX_EINVAL, "%s: expected a number, got '%s'", key, v);
	if (*end == 'k' || *end == 'K')
		mult = 1024, end++;
	else if (*end == 'm' || *end == 'M')
		mult = 1024 * 1024, end++;
	else if (*end == 'g' || *end == 'G')
		mult = 1024 * 1024 * 1024, end++;
	if (*end != '\0')
		return nx__err(NX_EINVAL, "%s: trailing characters in '%s'", key, v);
	if (x > max / mult || x * mult < min || x * mult > max)
		return nx__err(NX_EINVAL, "%s: %s is out of range [%llu, %llu]", key, v,
			       (unsigned long long)min, (unsigned long long)max);
	*out = x * mult;
	return 0;
}

static int
parse_bool(const char *key, const char *v, bool *out)
{
	if (v == NULL || strcmp(v, "") == 0 || strcmp(v, "1") == 0 || strcmp(v, "yes") == 0 ||
	    strcmp(v, "true") == 0 || strcmp(v, "on") == 0) {
		*out = true;
		return 0;
	}
	if (strcmp(v, "0") == 0 || strcmp(v, "no") == 0 || strcmp(v, "false") == 0 ||
	    strcmp(v, "off") == 0) {
		*out = false;
		return 0;
	}
	return nx__err(NX_EINVAL, "%s: expected yes or no, got '%s'", key, v);
}

/* "max-channels" and "max_channels" are the same key. */
static bool
key_is(const char *key, const char *name)
{
	for (; *key != '\0' && *name != '\0'; key++, name++) {
		char a = *key == '-' ? '_' : *key, b = *name == '-' ? '_' : *name;

		if (a != b)
			return false;
	}
	return *key == '\0' && *name == '\0';
}

int
nx__instance_conf_set(struct nx_instance_conf *c, const char *key, const char *value)
{
	uint64_t v;
	int rc;

	if (key_is(key, "instance")) {
		rc = nx__instance_check(value);
		if (rc < 0)
			return rc;
		snprintf(c->instance, sizeof c->instance, "%s", value);
		return 0;
	}
	if (key_is(key, "workers")) {
		rc = parse_u64(key, value, 0, NX_PLACE_MAX_WORKERS, &v);
		if (rc == 0)
			c->workers = (int)v;
		return rc;
	}
	if (key_is(key, "cpus")) {
		rc = nx__cpulist_parse(value, c->cpus, NX_PLACE_MAX_WORKERS);
		if (rc < 0)
			return nx__err_ctx(rc, "cpus");
		if (rc == 0)
			return nx__err(NX_EINVAL, "cpus: empty list");
		c->ncpus = rc;
		return 0;
	}
	if (key_is(key, "idle")) {
		if (strcmp(value, "spin") == 0)
			c->idle = NX_WAIT_SPIN;
		else if (strcmp(value, "sleep") == 0)
			c->idle = NX_WAIT_SLEEP;
		else
			return nx__err(NX_EINVAL, "idle: expected spin or sleep, got '%s'", value);
		return 0;
	}
	if (key_is(key, "max_channels")) {
		rc = parse_u64(key, value, 1, 65536, &v);
		if (rc == 0)
			c->max_channels = (uint32_t)v;
		return rc;
	}
	if (key_is(key, "ring_size")) {
		rc = parse_u64(key, value, NX_RING_MIN, NX_RING_MAX, &v);
		if (rc == 0 && (v & (v - 1)) != 0)
			rc = nx__err(NX_EINVAL, "ring_size: %s is not a power of two", value);
		if (rc == 0)
			c->ring_size = (uint32_t)v;
		return rc;
	}
	if (key_is(key, "arena")) {
		rc = parse_u64(key, value, 0, NX_ARENA_MAX, &v);
		if (rc == 0)
			c->arena_bytes = (uint32_t)v;
		return rc;
	}
	if (key_is(key, "max_payload")) {
		rc = parse_u64(key, value, NX_INLINE_MAX, NX_ARENA_MAX / 2, &v);
		if (rc == 0)
			c->max_payload = (uint32_t)v;
		return rc;
	}
	if (key_is(key, "keep"))
		return parse_bool(key, value, &c->keep);
	if (key_is(key, "mlock"))
		return parse_bool(key, value, &c->mlock);
	if (key_is(key, "quiet"))
		return parse_bool(key, value, &c->quiet);
	if (key_is(key, "rt_prio")) {
		rc = parse_u64(key, value, 0, 99, &v);
		if (rc == 0)
			c->rt_prio = (int)v;
		return rc;
	}
	if (key_is(key, "admin_gid")) {
		rc = parse_u64(key, value, 0, UINT32_MAX - 1, &v);
		if (rc == 0)
			c->admin_gid = (int64_t)v;
		return rc;
	}
	if (key_is(key, "uid_channels") || key_is(key, "pid_channels") ||
	    key_is(key, "uid_pending")) {
		rc = parse_u64(key, value, 1, 65536, &v);
		if (rc == 0)
			*(key_is(key, "uid_channels")   ? &c->uid_channels
			  : key_is(key, "pid_channels") ? &c->pid_channels
							: &c->uid_pending) = (uint32_t)v;
		return rc;
	}
	if (key_is(key, "runtime_dir")) {
		if (value == NULL || value[0] != '/' || strlen(value) > NX_RUNTIME_DIR_MAX)
			return nx__err(NX_EINVAL, "runtime_dir '%s': an absolute path of at most "
				       "%d bytes", value != NULL ? value : "", NX_RUNTIME_DIR_MAX);
		snprintf(c->runtime_dir, sizeof c->runtime_dir, "%s", value);
		return 0;
	}
	if (key_is(key, "dumpable"))
		return parse_bool(key, value, &c->dumpable);
	if (key_is(key, "allow_gid")) {
		rc = parse_u64(key, value, 0, UINT32_MAX, &v);
		if (rc == 0)
			c->allow_gid = (int64_t)v;
		return rc;
	}
	if (key_is(key, "max_slots")) {
		rc = parse_u64(key, value, 1, 65536, &v);
		if (rc == 0)
			c->max_slots = (uint32_t)v;
		return rc;
	}
	if (key_is(key, "scratch")) {
		rc = parse_u64(key, value, 4096, 1u << 30, &v);
		if (rc == 0)
			c->scratch_bytes = (uint32_t)v;
		return rc;
	}
	if (key_is(key, "stage_state")) {
		rc = parse_u64(key, value, 0, 1u << 20, &v);
		if (rc == 0)
			c->stage_state = (uint32_t)v;
		return rc;
	}
	if (key_is(key, "stage_timing")) {
		rc = parse_u64(key, value, 0, 65536, &v);
		if (rc == 0 && (v & (v - 1)) != 0)
			rc = nx__err(NX_EINVAL, "stage_timing: %s is not a power of two (or 0)", value);
		if (rc == 0)
			c->stage_timing = (uint32_t)v;
		return rc;
	}
	if (key_is(key, "rate_limit")) {
		rc = parse_u64(key, value, 0, 1000000000, &v);
		if (rc == 0)
			c->rate_limit = (uint32_t)v;
		return rc;
	}
	if (key_is(key, "rate_burst")) {
		rc = parse_u64(key, value, 1, 1000000000, &v);
		if (rc == 0)
			c->rate_burst = (uint32_t)v;
		return rc;
	}
	if (key_is(key, "dlq_entries")) {
		rc = parse_u64(key, value, 0, 1u << 20, &v);
		if (rc == 0 && (v & (v - 1)) != 0)
			rc = nx__err(NX_EINVAL, "dlq_entries: %s is not a power of two (or 0)", value);
		if (rc == 0)
			c->dlq_entries = (uint32_t)v;
		return rc;
	}
	if (key_is(key, "plugin_dirs")) {
		const char *d = value;

		if (strlen(value) >= sizeof c->plugin_dirs)
			return nx__err(NX_EINVAL, "plugin_dirs: longer than %zu bytes",
				       sizeof c->plugin_dirs - 1);
		/* absolute directories, colon-separated */
		while (*d != '\0') {
			if (*d != '/')
				return nx__err(NX_EINVAL, "plugin_dirs: '%s': each directory must be "
					       "an absolute path (DIR:DIR...)", value);
			d += strcspn(d, ":");
			if (*d == ':')
				d++;
		}
		snprintf(c->plugin_dirs, sizeof c->plugin_dirs, "%s", value);
		return 0;
	}
	if (key_is(key, "reply_max")) {
		rc = parse_u64(key, value, 4096, NX_CTL_REPLY_MAX, &v);
		if (rc == 0)
			c->reply_max = (uint32_t)v;
		return rc;
	}
	if (key_is(key, "stop_timeout")) {
		rc = parse_u64(key, value, 1, 3600, &v);
		if (rc == 0)
			c->stop_timeout_s = (uint32_t)v;
		return rc;
	}
	if (key_is(key, "orphan_hold")) {
		rc = parse_u64(key, value, 1, 86400, &v);
		if (rc == 0)
			c->orphan_hold_s = (uint32_t)v;
		return rc;
	}
	if (key_is(key, "isolated")) {
		int cpus[NX_PLACE_MAX_WORKERS * 4];

		rc = nx__cpulist_parse(value, cpus, (int)(sizeof cpus / sizeof cpus[0]));
		if (rc < 0)
			return nx__err_ctx(rc, "isolated");
		snprintf(c->isolated, sizeof c->isolated, "%s", value);
		c->has_isolated = true;
		return 0;
	}
	return nx__err(NX_EINVAL, "unknown setting '%s'", key);
}

int
nx__instance_conf_plan(const struct nx_instance_conf *c, struct nx_place_plan *plan)
{
	struct nx_place_req req;

	memset(&req, 0, sizeof req);
	req.workers = c->workers;
	req.cpus = c->ncpus > 0 ? c->cpus : NULL;
	req.ncpus = c->ncpus;
	req.isolated = c->has_isolated ? c->isolated : NULL;
	req.numa_node = -1;
	return nx__place_plan(plan, &req);
}

int
nx__instance_conf_pipeline(struct nx_instance_conf *c, const char *name, const char *key,
			  const char *value)
{
	struct nx_pipe_spec *s = NULL, *more;
	unsigned i;
	int rc;

	for (i = 0; i < c->nspecs; i++)
		if (strcmp(c->specs[i].name, name) == 0)
			s = &c->specs[i];
	if (s == NULL) {
		if (c->nspecs == NX_MAX_PIPELINES)
			return nx__err(NX_EINVAL, "more than %d pipelines", NX_MAX_PIPELINES);
		more = nx__mem_realloc(c->specs, (c->nspecs + 1) * sizeof *c->specs);
		if (more == NULL)
			return nx__err(NX_ENOMEM, "pipeline %s", name);
		c->specs = more;
		s = &c->specs[c->nspecs];
		rc = nx__spec_init(s, name);
		if (rc < 0)
			return rc;
		c->nspecs++;
	}
	return nx__spec_set(s, key, value);
}

int
nx__instance_conf_finish(struct nx_instance_conf *c)
{
	unsigned i;
	int rc;

	for (i = 0; i < c->nspecs; i++) {
		rc = nx__spec_finish(&c->specs[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

void
nx__instance_conf_release(struct nx_instance_conf *c)
{
	nx__mem_free(c->specs);
	c->specs = NULL;
	c->nspecs = 0;
}
