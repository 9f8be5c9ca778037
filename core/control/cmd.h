/*
 * cmd.h - nxctl's commands, on nxd's control thread: one table per
 * command family (cmd_pipe.c, cmd_policy.c, cmd_dlq.c), run by cmd.c.
 * A new command is a handler and a row in its family's table.
 *
 * Every command needs the admin role: the server refuses a command from
 * a peer without it before reading a word of it (ctl_server.c).
 */
#ifndef NX_CORE_CMD_H
#define NX_CORE_CMD_H

#include <stdbool.h>

#include "platform/base/buf.h"
#include "platform/base/json.h"

struct nx_instance;

/** Run one command: argv[0] is its name, its arguments checked against the
 *  row's counts; the answer (text, or JSON when json) goes to out.
 *  @return 0, or an error code with its message (nx__errmsg) */
typedef int (*nx__cmd_fn)(struct nx_instance *inst, int argc, char **argv, bool json,
			  struct nx_buf *out);

/* cmd_reply.c: what every family's --json answer starts and ends with */

/** Start a JSON answer in out: one object, with "pipeline" and "slot"
 *  first when given (NULL: left out). */
void nx__cmd_json_open(struct nx_json *j, struct nx_buf *out, const char *pipe, const char *slot);
/** End it: close the object, end the line. */
void nx__cmd_json_close(struct nx_json *j);

#define NX_CMD_ARGS_ANY (-1) /* max_args: no bound (the handler checks) */

struct nx_cmd {
	const char *name;
	const char *usage;             /* its arguments, as the error for a wrong one shows */
	int min_args, max_args;        /* after the name */
	nx__cmd_fn run;
};

/* The families, each ended by a row with a NULL name. */
extern const struct nx_cmd nx__cmd_pipe[];   /* list, swap, swap-pipeline, rollback, placement */
extern const struct nx_cmd nx__cmd_policy[]; /* breaker, release, ratelimit */
extern const struct nx_cmd nx__cmd_dlq[];    /* dlq list|show|drain|export */

/**
 * Run one nxctl command (argv[0] is its name) and write its answer.
 * @return 0, or an error code with its message (nx__errmsg): NX_EINVAL for
 *   an unknown command or wrong arguments, or the command's own
 */
int nx__cmd_run(struct nx_instance *inst, int argc, char **argv, bool json, struct nx_buf *out);

#endif /* NX_CORE_CMD_H */
