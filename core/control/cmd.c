/*
 * nxctl's command table: the families' rows, looked up by name, their
 * argument counts checked before the handler runs.
 */
#include <stdio.h>
#include <string.h>

#include "platform/nx_platform.h"

#include "core/control/cmd.h"

static const struct nx_cmd *const families[] = { nx__cmd_pipe, nx__cmd_policy, nx__cmd_dlq };

/* Every command and its arguments, for the error that names them all. */
static void
all_usages(char *buf, size_t len)
{
	size_t f, at = 0;
	const struct nx_cmd *c;

	buf[0] = '\0';
	for (f = 0; f < sizeof families / sizeof families[0]; f++)
		for (c = families[f]; c->name != NULL && at < len; c++) {
			int n = snprintf(buf + at, len - at, "%s%s%s%s", at != 0 ? ", " : "",
					 c->name, c->usage[0] != '\0' ? " " : "", c->usage);

			at = n < 0 ? len : at + (size_t)n;
		}
}

int
nx__cmd_run(struct nx_instance *inst, int argc, char **argv, bool json, struct nx_buf *out)
{
	const char *name = argc > 0 ? argv[0] : "";
	const struct nx_cmd *c;
	char usages[1024];
	size_t f;

	for (f = 0; f < sizeof families / sizeof families[0]; f++)
		for (c = families[f]; c->name != NULL; c++) {
			if (strcmp(c->name, name) != 0)
				continue;
			if (argc - 1 < c->min_args ||
			    (c->max_args != NX_CMD_ARGS_ANY && argc - 1 > c->max_args))
				return nx__err(NX_EINVAL, "%s: wrong arguments (%s%s%s)", name, name,
					       c->usage[0] != '\0' ? " " : "", c->usage);
			return c->run(inst, argc, argv, json, out);
		}
	all_usages(usages, sizeof usages);
	return nx__err(NX_EINVAL, "unknown command or wrong arguments: '%s' (%s)", name, usages);
}
