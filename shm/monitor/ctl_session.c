/*
 * The operators' command session (ctl_session.h): nxctl's commands sent
 * to a running nxd over its control socket and its reply's chunks
 * gathered, after making sure the listener is the instance's (the same
 * check as libnx's attach, shm/attach.c).
 */
#include <stddef.h>
#include <string.h>

#include "shm/shm_internal.h"
#include "shm/attach.h"
#include "shm/monitor/ctl_session.h"

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
	struct nx_ctl_session *s = nx__mem_zalloc(1, sizeof *s);
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
	nx__fd_close(s->fd);
	nx__health_unmap(&s->hv);
	nx__mem_free(s);
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
	(void)nx__ctl_send(s->fd, c, offsetof(struct nx_ctl_cmd, args) + c->len, -1);
	for (;;) {
		int n;
		char *more;

		n = nx__ctl_recv(s->fd, r, sizeof *r, NULL, timeout_ns);
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
		more = nx__mem_realloc(out, len + r->len + 1);
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
		nx__mem_free(out);
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
