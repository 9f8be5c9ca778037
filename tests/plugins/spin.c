/*
 * A test plugin: stage "spin" echoes its payload, except a payload that
 * starts with "spin": then it spins forever (a stalled worker, for nxwd's
 * stall detection). Stage "abortinit" aborts in init (an nxd that dies at
 * every start: a crash loop). Stage "failif" echoes, and refuses init
 * while the file its `file` parameter names exists (an nxd that fails to
 * start until an operator fixes something).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nx/nx_stage.h>

static int
spin_process(void *state, struct nx_msg *m, struct nx_ctx *ctx)
{
	(void)state;
	(void)ctx;
	if (m->in_len >= 4 && memcmp(m->in, "spin", 4) == 0)
		for (;;)
			__atomic_signal_fence(__ATOMIC_SEQ_CST); /* no heartbeat from here on */
	if (m->in_len > m->out_cap)
		return NX_EOVERFLOW;
	memmove(m->out, m->in, m->in_len);
	m->out_len = m->in_len;
	return 0;
}

static const struct nx_stage_ops spin = {
	.abi = NX_STAGE_ABI,
	.version = 1,
	.name = "spin",
	.description = "echo; spins forever on a payload starting with \"spin\"",
	.process = spin_process,
};

static int
abort_init(void **state, const struct nx_stage_conf *conf)
{
	(void)state;
	(void)conf;
	abort();
}

static const struct nx_stage_ops abortinit = {
	.abi = NX_STAGE_ABI,
	.version = 1,
	.name = "abortinit",
	.description = "aborts in init: nxd dies at start",
	.init = abort_init,
	.process = spin_process,
};

static int
failif_init(void **state, const struct nx_stage_conf *conf)
{
	const char *file = nx_stage_conf_get(conf, "file", NULL);

	(void)state;
	return file != NULL && access(file, F_OK) == 0 ? NX_EIO : 0;
}

static const struct nx_stage_ops failif = {
	.abi = NX_STAGE_ABI,
	.version = 1,
	.name = "failif",
	.description = "echo; init fails while the file `file` exists",
	.init = failif_init,
	.process = spin_process,
};

NX_PLUGIN("spin", &spin, &abortinit, &failif);
