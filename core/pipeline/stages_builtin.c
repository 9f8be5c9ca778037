/*
 * Built-in stages (the built-in pipelines made of them are pipe_builtin.c).
 *
 *   echo      answers with the payload
 *   checksum  answers the CRC-32C of the payload (4 bytes, little-endian)
 *   noop      lets the payload through unchanged (NX_STAGE_PASS: no copy)
 *   tag       appends its `text` parameter to the payload (shows the route)
 *   pick      a selector: the child named by the payload's first byte if it
 *             is a digit, else its `child` parameter (default 0)
 *   concat    a merge: the fan-out's outputs end to end, in child order,
 *             separated by its `sep` parameter
 *   fail      fails a `percent` share of requests (by payload hash), else
 *             lets them through; for trying failures and fallbacks
 */
#include <stdlib.h>
#include <string.h>

#include "core/datapath/crc32c.h"
#include "platform/nx_platform.h"
#include "core/pipeline/stages.h"

static int
echo_process(void *state, struct nx_msg *m, struct nx_ctx *ctx)
{
	(void)state;
	(void)ctx;
	if (m->in_len > m->out_cap)
		return NX_EOVERFLOW;
	memmove(m->out, m->in, m->in_len);
	m->out_len = m->in_len;
	return 0;
}

const struct nx_stage_ops nx__stage_echo = {
	.abi = NX_STAGE_ABI,
	.version = 1,
	.name = "echo",
	.description = "answers with the request's payload",
	.process = echo_process,
};

static int
checksum_process(void *state, struct nx_msg *m, struct nx_ctx *ctx)
{
	uint32_t crc;

	(void)state;
	(void)ctx;
	if (m->out_cap < 4)
		return NX_EOVERFLOW;
	crc = nx__crc32c(0, m->in, m->in_len);
	m->out[0] = (uint8_t)crc;
	m->out[1] = (uint8_t)(crc >> 8);
	m->out[2] = (uint8_t)(crc >> 16);
	m->out[3] = (uint8_t)(crc >> 24);
	m->out_len = 4;
	return 0;
}

const struct nx_stage_ops nx__stage_checksum = {
	.abi = NX_STAGE_ABI,
	.version = 1,
	.name = "checksum",
	.description = "answers the CRC-32C of the payload (4 bytes, little-endian)",
	.process = checksum_process,
};

static int
noop_process(void *state, struct nx_msg *m, struct nx_ctx *ctx)
{
	(void)state;
	(void)m;
	(void)ctx;
	return NX_STAGE_PASS;
}

static const struct nx_stage_ops stage_noop = {
	.abi = NX_STAGE_ABI,
	.version = 1,
	.name = "noop",
	.description = "lets the payload through unchanged, without copying it",
	.process = noop_process,
};

/* tag: a state that holds its text, in the storage nxd reserves. */
struct tag_state {
	uint32_t len;
	char text[60];
};

static int
tag_init(void **state, const struct nx_stage_conf *conf)
{
	struct tag_state *t = *state;
	const char *text = nx_stage_conf_get(conf, "text", "");
	size_t n = strlen(text);

	if (n > sizeof t->text)
		return NX_E2BIG;
	memcpy(t->text, text, n);
	t->len = (uint32_t)n;
	return 0;
}

static int
tag_process(void *state, struct nx_msg *m, struct nx_ctx *ctx)
{
	const struct tag_state *t = state;

	(void)ctx;
	if ((uint64_t)m->in_len + t->len > m->out_cap)
		return NX_EOVERFLOW;
	memmove(m->out, m->in, m->in_len);
	memcpy(m->out + m->in_len, t->text, t->len);
	m->out_len = m->in_len + t->len;
	return 0;
}

static const struct nx_stage_ops stage_tag = {
	.abi = NX_STAGE_ABI,
	.version = 1,
	.name = "tag",
	.description = "appends its text parameter to the payload",
	.init = tag_init,
	.process = tag_process,
	.state_bytes = sizeof(struct tag_state),
};

struct pick_state {
	int child;
};

static int
pick_init(void **state, const struct nx_stage_conf *conf)
{
	struct pick_state *p = *state;
	const char *v = nx_stage_conf_get(conf, "child", "0");
	char *end;
	long c = strtol(v, &end, 10);

	if (*v == '\0' || *end != '\0' || c < 0 || c > 254)
		return NX_EINVAL;
	p->child = (int)c;
	return 0;
}

static int
pick_process(void *state, struct nx_msg *m, struct nx_ctx *ctx)
{
	const struct pick_state *p = state;

	(void)ctx;
	if (m->in_len > 0 && m->in[0] >= '0' && m->in[0] <= '9')
		return m->in[0] - '0';
	return p->child;
}

static const struct nx_stage_ops stage_pick = {
	.abi = NX_STAGE_ABI,
	.version = 1,
	.name = "pick",
	.description = "selector: the child the payload's first digit names, else child=N",
	.init = pick_init,
	.process = pick_process,
	.state_bytes = sizeof(struct pick_state),
};

struct concat_state {
	uint32_t len;
	char sep[28];
};

static int
concat_init(void **state, const struct nx_stage_conf *conf)
{
	struct concat_state *c = *state;
	const char *sep = nx_stage_conf_get(conf, "sep", "");

	if (strlen(sep) > sizeof c->sep)
		return NX_E2BIG;
	c->len = (uint32_t)strlen(sep);
	memcpy(c->sep, sep, c->len);
	return 0;
}

static int
concat_process(void *state, struct nx_msg *m, struct nx_ctx *ctx)
{
	const struct concat_state *c = state;
	struct nx_merge_iter it;
	const uint8_t *part;
	uint32_t len, n = 0;
	bool first = true;

	(void)ctx;
	nx_merge_begin(&it, m);
	while (nx_merge_next(&it, &part, &len)) {
		uint32_t extra = first ? 0 : c->len;

		if ((uint64_t)n + extra + len > m->out_cap)
			return NX_EOVERFLOW;
		memcpy(m->out + n, c->sep, extra);
		memcpy(m->out + n + extra, part, len);
		n += extra + len;
		first = false;
	}
	m->out_len = n;
	return 0;
}

static const struct nx_stage_ops stage_concat = {
	.abi = NX_STAGE_ABI,
	.version = 1,
	.name = "concat",
	.description = "merge: the fan-out's outputs in child order, joined by sep",
	.init = concat_init,
	.process = concat_process,
	.state_bytes = sizeof(struct concat_state),
};

struct fail_state {
	uint32_t percent;
};

static int
fail_init(void **state, const struct nx_stage_conf *conf)
{
	struct fail_state *f = *state;
	const char *v = nx_stage_conf_get(conf, "percent", "100");
	char *end;
	long p = strtol(v, &end, 10);

	if (*v == '\0' || *end != '\0' || p < 0 || p > 100)
		return NX_EINVAL;
	f->percent = (uint32_t)p;
	return 0;
}

static int
fail_process(void *state, struct nx_msg *m, struct nx_ctx *ctx)
{
	const struct fail_state *f = state;

	(void)ctx;
	if (f->percent != 0 && nx__crc32c(0, m->in, m->in_len) % 100 < f->percent)
		return NX_ESTAGE;
	return NX_STAGE_PASS;
}

static const struct nx_stage_ops stage_fail = {
	.abi = NX_STAGE_ABI,
	.version = 1,
	.name = "fail",
	.description = "fails percent% of requests (by payload), lets the rest through",
	.init = fail_init,
	.process = fail_process,
	.state_bytes = sizeof(struct fail_state),
};

static const struct nx_stage_ops *const builtins[] = {
	&nx__stage_echo, &nx__stage_checksum, &stage_noop, &stage_tag,
	&stage_pick,    &stage_concat,      &stage_fail,
};

/* Stages a program linked with the core adds (tests, embedders). */
#define NX_MAX_REGISTERED 32
static const struct nx_stage_ops *registered[NX_MAX_REGISTERED];
static unsigned nregistered;

int
nx__stage_register(const struct nx_stage_ops *ops)
{
	if (ops == NULL || ops->abi != NX_STAGE_ABI || ops->name == NULL || ops->process == NULL)
		return nx__err(NX_EINVAL, "not a valid stage");
	if (nx__stage_builtin(ops->name) != NULL)
		return nx__err(NX_EINVAL, "a stage named %s exists", ops->name);
	if (nregistered == NX_MAX_REGISTERED)
		return nx__err(NX_ENOSPC, "more than %d registered stages", NX_MAX_REGISTERED);
	registered[nregistered++] = ops;
	return 0;
}

const struct nx_stage_ops *
nx__stage_builtin(const char *name)
{
	unsigned i;

	for (i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
		if (strcmp(builtins[i]->name, name) == 0)
			return builtins[i];
	for (i = 0; i < nregistered; i++)
		if (strcmp(registered[i]->name, name) == 0)
			return registered[i];
	return NULL;
}

const char *
nx__stage_builtin_names(void)
{
	return "echo, checksum, noop, tag, pick, concat, fail";
}
