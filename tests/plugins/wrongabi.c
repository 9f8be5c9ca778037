/* A test plugin built for another stage ABI: nxd must refuse it. */
#include <nx/nx_stage.h>

static int
p(void *state, struct nx_msg *m, struct nx_ctx *ctx)
{
	(void)state;
	(void)ctx;
	m->out_len = 0;
	return 0;
}

static const struct nx_stage_ops old = {
	.abi = NX_STAGE_ABI, .version = 1, .name = "old", .process = p,
};

static const struct nx_stage_ops *const stages[] = { &old };

const struct nx_plugin nx_plugin = { NX_STAGE_ABI + 98, 1, "wrongabi", stages };

/* its section says the same: refused before it is loaded */
NX_PLUGIN_MARK(NX_STAGE_ABI + 98);
