/*
 * A test plugin whose stage "hanginit" never returns from init: the
 * control thread is stuck in it, and SIGTERM must still stop nxd within
 * its stop timeout.
 */
#include <fcntl.h>
#include <unistd.h>

#include <nx/nx_stage.h>

/* init touches the file its `mark` parameter names (the test then knows
 * the control thread is in it), then waits forever */
static int
hang_init(void **state, const struct nx_stage_conf *conf)
{
	const char *mark = nx_stage_conf_get(conf, "mark", NULL);

	(void)state;
	if (mark != NULL) {
		int fd = open(mark, O_WRONLY | O_CREAT, 0600);

		if (fd >= 0)
			close(fd);
	}
	while (mark != (const char *)1)
		pause();
	return NX_EIO; /* not reached */
}

static int
hang_process(void *state, struct nx_msg *m, struct nx_ctx *ctx)
{
	(void)state;
	(void)ctx;
	m->out_len = 0;
	return 0;
}

static const struct nx_stage_ops hanginit = {
	.abi = NX_STAGE_ABI, .version = 1, .name = "hanginit",
	.description = "init never returns", .init = hang_init, .process = hang_process,
};

NX_PLUGIN("hang", &hanginit);
