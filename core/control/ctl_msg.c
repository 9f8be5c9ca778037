/*
 * nxd's side of the control messages (ctl_msg.h): its answers to ATTACH
 * and RECLAIM, and the check of an nxctl command datagram before
 * anything in it is believed. The messages' layouts are shm/abi/ctl.h,
 * their framing shm/ctl_frame.c; the server that uses them ctl_server.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "shm/ctl_frame.h"
#include "core/control/ctl_msg.h"

int
nx__ctl_reply_ok(int fd, uint32_t chan_id, uint64_t generation, int chan_fd)
{
	struct nx_ctl_msg m;

	memset(&m, 0, sizeof m);
	m.type = NX_CTL_OK;
	m.abi_version = NX_CTL_VERSION;
	m.chan_id = chan_id;
	m.generation = generation;
	return nx__ctl_send_msg(fd, &m, chan_fd);
}

int
nx__ctl_reply_error(int fd, int code, const char *fmt, ...)
{
	struct nx_ctl_msg m;
	va_list ap;

	memset(&m, 0, sizeof m);
	m.type = NX_CTL_ERROR;
	m.abi_version = NX_CTL_VERSION;
	m.status = code;
	va_start(ap, fmt);
	vsnprintf(m.text, sizeof m.text, fmt, ap);
	va_end(ap);
	return nx__ctl_send_msg(fd, &m, -1);
}

int
nx__ctl_parse_command(struct nx_ctl_cmd *c, size_t got, char **argv, unsigned max)
{
	char *a = c->args, *end;
	uint32_t i;

	if (got < offsetof(struct nx_ctl_cmd, args) || c->hdr.type != NX_CTL_COMMAND ||
	    c->len > NX_CTL_CMD_MAX || got != offsetof(struct nx_ctl_cmd, args) + c->len ||
	    c->argc == 0 || c->argc > max)
		return nx__err(NX_EPROTO, "malformed command");
	end = c->args + c->len;
	for (i = 0; i < c->argc; i++) {
		char *z = memchr(a, '\0', (size_t)(end - a));

		if (z == NULL)
			return nx__err(NX_EPROTO, "malformed command arguments");
		argv[i] = a;
		a = z + 1;
	}
	if (a != end)
		return nx__err(NX_EPROTO, "malformed command: bytes after its arguments");
	return (int)c->argc;
}
