/* Thread-local error messages with context added on the way up. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../nx_platform.h"

#define NX_ERRMSG_LEN 512

static __thread char errmsg[NX_ERRMSG_LEN];

int
nx__err(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof errmsg, fmt, ap);
	va_end(ap);
	return err;
}

int
nx__err_ctx(int err, const char *fmt, ...)
{
	char prev[NX_ERRMSG_LEN];
	char ctx[NX_ERRMSG_LEN / 2];
	va_list ap;

	memcpy(prev, errmsg, sizeof prev);
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof ctx, fmt, ap);
	va_end(ap);
	if (prev[0] != '\0')
		snprintf(errmsg, sizeof errmsg, "%s: %.*s", ctx, NX_ERRMSG_LEN / 2 - 4, prev);
	else
		snprintf(errmsg, sizeof errmsg, "%s: %s", ctx, nx_strerror(err));
	return err;
}

int
nx__err_sys(int err, int errno_val, const char *fmt, ...)
{
	char what[NX_ERRMSG_LEN - 128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	snprintf(errmsg, sizeof errmsg, "%s: %s", what, strerror(errno_val));
	return err;
}

const char *
nx__errmsg(void)
{
	return errmsg;
}

void
nx__err_clear(void)
{
	errmsg[0] = '\0';
}
