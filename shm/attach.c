/*
 * The attach protocol: one fixed-size message per seqpacket datagram.
 *
 *   client                                nxd
 *   connect <rundir>/<inst>.ctl -------->  accept, SO_PEERCRED: uid allowed?
 *   ATTACH {abi, wait_mode}     -------->  ABI equal? free channel? create it
 *                               <--------  OK {chan_id, generation} + memfd
 *                                          or ERROR {code, text}
 *   (the socket stays open: its close tells nxd the client is gone)
 *
 *   after an nxd restart:
 *   RECLAIM {abi, chan_id} + memfd ----->  pid/uid own that channel? re-map it
 *                               <--------  OK / ERROR
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shm_internal.h"
#include "attach.h"

int
nx__ctl_send_request(int fd, uint32_t type, uint32_t abi, uint32_t wait_mode, uint32_t chan_id,
		     int chan_fd)
{
	struct nx_ctl_msg m;

	memset(&m, 0, sizeof m);
	m.type = type;
	m.abi_version = abi;
	m.wait_mode = wait_mode;
	m.chan_id = chan_id;
	return nx_ctl_send(fd, &m, sizeof m, chan_fd);
}

int
nx__ctl_reply_ok(int fd, uint32_t chan_id, uint64_t generation, int chan_fd)
{
	struct nx_ctl_msg m;

	memset(&m, 0, sizeof m);
	m.type = NX_CTL_OK;
	m.abi_version = NX_CTL_VERSION;
	m.chan_id = chan_id;
	m.generation = generation;
	return nx_ctl_send(fd, &m, sizeof m, chan_fd);
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
	return nx_ctl_send(fd, &m, sizeof m, -1);
}

int
nx__ctl_recv_msg(int fd, struct nx_ctl_msg *m, int *recv_fd, uint64_t timeout_ns)
{
	int n = nx_ctl_recv(fd, m, sizeof *m, recv_fd, timeout_ns);

	if (n < 0)
		return n;
	if ((size_t)n != sizeof *m || m->type < NX_CTL_ATTACH || m->type > NX_CTL_ERROR) {
		if (recv_fd != NULL && *recv_fd >= 0) {
			nx_fd_close(*recv_fd);
			*recv_fd = -1;
		}
		return nx__err(NX_EPROTO, "malformed control message (%d bytes)", n);
	}
	m->text[sizeof m->text - 1] = '\0';
	return 0;
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

int
nx__ctl_read_reply(int fd, struct nx_ctl_msg *m, int *chan_fd, uint64_t timeout_ns)
{
	int rc = nx__ctl_recv_msg(fd, m, chan_fd, timeout_ns);

	if (rc < 0)
		return rc;
	if (m->type == NX_CTL_ERROR) {
		int code = m->status < 0 && m->status >= NX_ERRNO_MIN ? m->status : NX_EPROTO;

		if (chan_fd != NULL && *chan_fd >= 0) {
			nx_fd_close(*chan_fd);
			*chan_fd = -1;
		}
		return nx__err(code, "%s", m->text);
	}
	if (m->type != NX_CTL_OK)
		return nx__err(NX_EPROTO, "unexpected control message type %u", m->type);
	return 0;
}

int
nx__ctl_connect_verified(const char *instance, const struct nx_health_view *hv)
{
	struct nx_peer_cred cred;
	int64_t owner;
	int fd, rc;

	fd = nx_ctl_connect(instance);
	if (fd < 0) {
		if (fd == NX_ENOINST && hv != NULL && hv->hdr != NULL)
			return nx__err(NX_ENOINST, "instance '%s' is not running: nxd pid %d "
				       "(generation %llu) is gone", instance, hv->hdr->pid,
				       (unsigned long long)nx__load64(&hv->hdr->generation));
		return fd;
	}
	/* The listener (trusted by nx_ctl_connect) must own the instance's
	 * health segment too: one another uid planted is not the instance's. */
	rc = nx_ctl_peer_cred(fd, &cred);
	owner = hv != NULL ? nx_shm_owner(hv->fd) : -1;
	if (rc == 0 && (owner < 0 || cred.uid != (uint64_t)owner))
		rc = nx__err(NX_EPERM, "nxd of instance '%s' runs as uid %u but its health "
			     "segment belongs to uid %lld: refusing to talk to it", instance,
			     cred.uid, (long long)owner);
	if (rc < 0) {
		nx_fd_close(fd);
		return rc;
	}
	return fd;
}

/* A connection to nxd's control socket for several commands. */
struct nx_ctl_session {
	struct nx_health_view hv;
	int fd;
	struct nx_ctl_cmd cmd;
	struct nx_ctl_reply reply;
};

int
nx__ctl_session_open(struct nx_ctl_session **out, const char *instance)
{
	struct nx_ctl_session *s = calloc(1, sizeof *s);
	int rc;

	if (s == NULL)
		return nx__err(NX_ENOMEM, "control session");
	s->fd = -1;
	rc = nx__health_map_ro(&s->hv, instance);
	if (rc == 0) {
		s->fd = nx__ctl_connect_verified(instance, &s->hv);
		if (s->fd < 0)
			rc = s->fd;
	}
	if (rc < 0) {
		nx__ctl_session_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

void
nx__ctl_session_close(struct nx_ctl_session *s)
{
	if (s == NULL)
		return;
	nx_fd_close(s->fd);
	nx__health_unmap(&s->hv);
	free(s);
}

int
nx__ctl_session_command(struct nx_ctl_session *s, int argc, char *const *argv, bool json,
			uint64_t timeout_ns, char **text, size_t *text_len, int *status)
{
	struct nx_ctl_cmd *c = &s->cmd;
	struct nx_ctl_reply *r = &s->reply;
	char *out = NULL, *a;
	size_t len = 0;
	int rc = 0, i;

	*text = NULL;
	*text_len = 0;
	*status = 0;
	memset(&c->hdr, 0, sizeof c->hdr);
	c->hdr.type = NX_CTL_COMMAND;
	c->hdr.abi_version = NX_CTL_VERSION;
	c->hdr.wait_mode = json ? NX_CTL_CMD_JSON : 0;
	a = c->args;
	for (i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]) + 1;

		if ((size_t)(a - c->args) + n > NX_CTL_CMD_MAX)
			return nx__err(NX_E2BIG, "command longer than %d bytes", NX_CTL_CMD_MAX);
		memcpy(a, argv[i], n);
		a += n;
	}
	c->argc = (uint32_t)argc;
	c->len = (uint32_t)(a - c->args);
	/* nxd may have refused us already (and closed): its reason is waiting
	 * to be read even when our send fails */
	(void)nx_ctl_send(s->fd, c, offsetof(struct nx_ctl_cmd, args) + c->len, -1);
	for (;;) {
		int n;
		char *more;

		n = nx_ctl_recv(s->fd, r, sizeof *r, NULL, timeout_ns);
		if (n < 0) {
			rc = n;
			break;
		}
		if ((size_t)n < sizeof r->hdr) {
			rc = nx__err(NX_EPROTO, "reply too short");
			break;
		}
		if (r->hdr.type == NX_CTL_ERROR) {
			r->hdr.text[sizeof r->hdr.text - 1] = '\0';
			*status = r->hdr.status;
			rc = nx__err(r->hdr.status < 0 ? r->hdr.status : NX_EPROTO, "%s", r->hdr.text);
			break;
		}
		if (r->hdr.type != NX_CTL_REPLY || (size_t)n < offsetof(struct nx_ctl_reply, text) ||
		    r->len != (size_t)n - offsetof(struct nx_ctl_reply, text)) {
			rc = nx__err(NX_EPROTO, "malformed reply");
			break;
		}
		if (len + r->len > NX_CTL_REPLY_MAX) {
			rc = nx__err(NX_E2BIG, "reply longer than %u bytes", NX_CTL_REPLY_MAX);
			break;
		}
		more = realloc(out, len + r->len + 1);
		if (more == NULL) {
			rc = nx__err(NX_ENOMEM, "reply");
			break;
		}
		out = more;
		memcpy(out + len, r->text, r->len);
		len += r->len;
		out[len] = '\0';
		*status = r->hdr.status;
		if (!r->more)
			break;
	}
	if (rc == 0) {
		*text = out;
		*text_len = len;
	} else {
		free(out);
	}
	return rc;
}

int
nx__ctl_command(const char *instance, int argc, char *const *argv, bool json,
		uint64_t timeout_ns, char **text, size_t *text_len, int *status)
{
	struct nx_ctl_session *s;
	int rc;

	*text = NULL;
	*text_len = 0;
	*status = 0;
	rc = nx__ctl_session_open(&s, instance);
	if (rc < 0)
		return rc;
	rc = nx__ctl_session_command(s, argc, argv, json, timeout_ns, text, text_len, status);
	nx__ctl_session_close(s);
	return rc;
}
