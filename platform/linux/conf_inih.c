/* Configuration files, read with inih. */
#include <errno.h>
#include <stdio.h>
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
nx_conf_parse(const char *path, nx_conf_fn fn, void *user)
{
	struct conf_ctx c = { .fn = fn, .user = user };
	int line;

	line = ini_parse(path, on_entry, &c);
	if (line == -1)
		return nx__err_sys(NX_EINVAL, errno, "config %s", path);
	if (line == -2)
		return nx__err(NX_ENOMEM, "config %s: out of memory", path);
	if (line > 0 && c.first_err != 0)
		return nx__err(c.first_err, "%s:%d: %s", path, line, c.msg);
	if (line > 0)
		return nx__err(NX_EINVAL, "%s:%d: syntax error (expected [section] or key = value)",
			       path, line);
	return 0;
}
