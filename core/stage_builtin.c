/* Built-in stages: echo and checksum. */
#include <string.h>

#include "core_internal.h"

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

const struct nx_stage_ops nx_stage_echo = {
	.abi = NX_STAGE_ABI,
	.version = 1,
	.name = "echo",
	.description = "answers with the request's payload",
	.process = echo_process,
};

/* Answers the CRC-32C of the payload, 4 bytes little-endian. */
static int
checksum_process(void *state, struct nx_msg *m, struct nx_ctx *ctx)
{
	uint32_t crc;

	(void)state;
	(void)ctx;
	if (m->out_cap < 4)
		return NX_EOVERFLOW;
	crc = nx_crc32c(0, m->in, m->in_len);
	m->out[0] = (uint8_t)crc;
	m->out[1] = (uint8_t)(crc >> 8);
	m->out[2] = (uint8_t)(crc >> 16);
	m->out[3] = (uint8_t)(crc >> 24);
	m->out_len = 4;
	return 0;
}

const struct nx_stage_ops nx_stage_checksum = {
	.abi = NX_STAGE_ABI,
	.version = 1,
	.name = "checksum",
	.description = "answers the CRC-32C of the payload (4 bytes, little-endian)",
	.process = checksum_process,
};

const struct nx_stage_ops *
nx__stage_builtin(const char *name)
{
	static const struct nx_stage_ops *const builtins[] = { &nx_stage_echo, &nx_stage_checksum };
	unsigned i;

	for (i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
		if (strcmp(builtins[i]->name, name) == 0)
			return builtins[i];
	return NULL;
}
