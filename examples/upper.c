/*
 * A stage, start to finish: "upper" answers with the payload in upper
 * case, or, with prefix=TEXT, that text first. Built as a plugin:
 *
 *   cc -shared -fPIC $(pkg-config --cflags nx) upper.c -o upper.so
 *   nxctl swap echo echo upper --plugin $PWD/upper.so --set prefix=> --probe hello
 */
#include <string.h>

#include <nx/nx_stage.h>

struct upper {
	char prefix[32];
	uint32_t len;
};

/* Control thread, before the stage goes live: may fail, and nothing changes. */
static int
upper_init(void **state, const struct nx_stage_conf *conf)
{
	struct upper *u = *state; /* zeroed, reserved by nxd: state_bytes below */
	const char *p = nx_stage_conf_get(conf, "prefix", "");

	u->len = (uint32_t)strlen(p);
	if (u->len > sizeof u->prefix)
		return NX_E2BIG;
	memcpy(u->prefix, p, u->len);
	return 0;
}

/* A worker, for every request: no blocking, no allocation, no system call. */
static int
upper_process(void *state, struct nx_msg *m, struct nx_ctx *ctx)
{
	const struct upper *u = state;
	uint32_t i;

	(void)ctx;
	if ((uint64_t)u->len + m->in_len > m->out_cap)
		return NX_EOVERFLOW;
	memcpy(m->out, u->prefix, u->len);
	for (i = 0; i < m->in_len; i++) {
		uint8_t c = m->in[i]; /* read once: a client may change its buffer meanwhile */

		m->out[u->len + i] = c >= 'a' && c <= 'z' ? (uint8_t)(c - 32) : c;
	}
	m->out_len = u->len + m->in_len;
	return 0;
}

static const struct nx_stage_ops upper = {
	.abi = NX_STAGE_ABI,
	.version = 1,
	.name = "upper",
	.description = "the payload in upper case, after an optional prefix",
	.init = upper_init,
	.process = upper_process,
	.state_bytes = sizeof(struct upper),
};

NX_PLUGIN("upper", &upper);
