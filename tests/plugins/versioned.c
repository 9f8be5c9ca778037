/*
 * A test plugin: stage "versioned" answers with its slot version, its
 * `version` parameter and the CRC-32C of the input, and counts inits,
 * finis and any use of a finalised state in the segment named by its
 * `shm` parameter. Its state lives in storage nxd reserves (state_bytes),
 * so a late use reads a poisoned (or recycled, zeroed) state, never freed
 * memory. Stage "slow" spins `us` microseconds; "failinit" refuses init.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <nx/nx_stage.h>

#include "plugin_counts.h"

struct vstate {
	uint32_t magic;
	uint32_t pad;
	uint64_t version;
	struct plugin_counts *counts;
};

static uint32_t
crc32c(const uint8_t *p, uint32_t n)
{
	uint32_t c = ~0u;

	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
	}
	return ~c;
}

static int
v_init(void **state, const struct nx_stage_conf *conf)
{
	struct vstate *s = *state;
	const char *shm = nx_stage_conf_get(conf, "shm", NULL);
	int fd;

	s->version = strtoull(nx_stage_conf_get(conf, "version", "0"), NULL, 10);
	if (shm != NULL) {
		fd = shm_open(shm, O_RDWR, 0);
		if (fd < 0)
			return NX_ENOENT;
		s->counts = mmap(NULL, sizeof *s->counts, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
		if (s->counts == MAP_FAILED)
			return NX_EIO;
		__atomic_fetch_add(&s->counts->inits, 1, __ATOMIC_SEQ_CST);
	}
	__atomic_store_n(&s->magic, VERSIONED_ALIVE, __ATOMIC_RELEASE);
	return 0;
}

static int
v_process(void *state, struct nx_msg *m, struct nx_ctx *ctx)
{
	struct vstate *s = state;
	struct versioned_answer a;
	uint32_t magic = __atomic_load_n(&s->magic, __ATOMIC_ACQUIRE);

	if (magic != VERSIONED_ALIVE) {
		struct plugin_counts *c = s->counts;

		if (c != NULL && c != MAP_FAILED)
			__atomic_fetch_add(&c->use_after_fini, 1, __ATOMIC_SEQ_CST);
		return NX_EFAULT;
	}
	if (m->out_cap < sizeof a)
		return NX_EOVERFLOW;
	a.slot_version = ctx->stage_version;
	a.param_version = s->version;
	a.crc = crc32c(m->in, m->in_len);
	a.magic = magic;
	memcpy(m->out, &a, sizeof a);
	m->out_len = sizeof a;
	if (s->counts != NULL)
		__atomic_fetch_add(&s->counts->calls, 1, __ATOMIC_RELAXED);
	return 0;
}

static void
v_fini(void *state)
{
	struct vstate *s = state;
	uint32_t was = __atomic_exchange_n(&s->magic, VERSIONED_DEAD, __ATOMIC_ACQ_REL);

	if (s->counts == NULL)
		return;
	if (was != VERSIONED_ALIVE)
		__atomic_fetch_add(&s->counts->double_finis, 1, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&s->counts->finis, 1, __ATOMIC_SEQ_CST);
	/* the mapping stays: a late process() must still find the counters */
}

static const struct nx_stage_ops versioned = {
	.abi = NX_STAGE_ABI,
	.version = 3,
	.name = "versioned",
	.description = "answers its versions and the input's CRC-32C; counts its life",
	.init = v_init,
	.process = v_process,
	.fini = v_fini,
	.state_bytes = sizeof(struct vstate),
};

static int
slow_process(void *state, struct nx_msg *m, struct nx_ctx *ctx)
{
	struct timespec t0, t;
	long us = (long)(uintptr_t)state;

	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		clock_gettime(CLOCK_MONOTONIC, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000000L + (t.tv_nsec - t0.tv_nsec) / 1000 < us);
	(void)m;
	return NX_STAGE_PASS;
}

static int
slow_init(void **state, const struct nx_stage_conf *conf)
{
	*state = (void *)(uintptr_t)strtoul(nx_stage_conf_get(conf, "us", "10"), NULL, 10);
	return 0;
}

static const struct nx_stage_ops slow = {
	.abi = NX_STAGE_ABI,
	.version = 1,
	.name = "slow",
	.init = slow_init,
	.process = slow_process,
};

static int
failinit_init(void **state, const struct nx_stage_conf *conf)
{
	(void)state;
	(void)conf;
	return NX_EINVAL;
}

static int
never_process(void *state, struct nx_msg *m, struct nx_ctx *ctx)
{
	(void)state;
	(void)m;
	(void)ctx;
	return NX_ESTAGE;
}

static const struct nx_stage_ops failinit = {
	.abi = NX_STAGE_ABI,
	.version = 1,
	.name = "failinit",
	.init = failinit_init,
	.process = never_process,
};

NX_PLUGIN("versioned", &versioned, &slow, &failinit);
