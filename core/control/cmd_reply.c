/* What every nxctl command's --json answer starts and ends with (cmd.h). */
#include "core/control/cmd.h"

void
nx__cmd_json_open(struct nx_json *j, struct nx_buf *out, const char *pipe, const char *slot)
{
	nx__json_init(j, out);
	nx__json_obj_open(j);
	if (pipe != NULL)
		nx__json_kstr(j, "pipeline", pipe);
	if (slot != NULL)
		nx__json_kstr(j, "slot", slot);
}

void
nx__cmd_json_close(struct nx_json *j)
{
	nx__json_obj_close(j);
	nx__buf_put(j->b, "\n", 1);
}
