/* Configuration files, read with inih. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "../nx_platform.h"

struct conf_ctx {
	nx_conf_fn fn;
	void *user;
	int first_err;
	char msg[400];
};

static int
on_entry(void *user, const char *section, const char *key, const char *value)
{
	struct conf_ctx *c = user;
	int rc = c->fn(c->user, section, key, value);

	if (rc < 0 && c->first_err == 0) {
		c->first_err = rc;
		snprintf(c->msg, sizeof c->msg, "[%s] %s = %s: %s", section, key, value, nx__errmsg());
	}
	return rc < 0 ? 0 : 1;
}

int
nx__conf_parse_text(const char *text, const char *name, nx_conf_fn fn, void *user)
{
	struct conf_ctx c = { .fn = fn, .user = user };
	int line;

	line = ini_parse_string(text, on_entry, &c);
	if (line == -2)
		return nx__err(NX_ENOMEM, "config %s: out of memory", name);
	if (line < 0)
		return nx__err(NX_EINVAL, "config %s: cannot be read", name);
	if (line > 0 && c.first_err != 0)
		return nx__err(c.first_err, "%s:%d: %s", name, line, c.msg);
	if (line > 0)
		return nx__err(NX_EINVAL, "%s:%d: syntax error (expected [section] or key = value)",
			       name, line);
	return 0;
}

int
nx__conf_parse(const char *path, uint32_t trust, nx_conf_fn fn, void *user)
{
	size_t len;
	char *text;
	int rc;

	rc = nx__file_read(path, trust, NX_CONF_MAX_BYTES, "config", &text, &len);
	if (rc < 0)
		return rc;
	if (memchr(text, '\0', len) != NULL) {
		free(text);
		return nx__err(NX_EINVAL, "config %s holds a NUL byte: not a text file", path);
	}
	rc = nx__conf_parse_text(text, path, fn, user);
	free(text);
	return rc;
}
