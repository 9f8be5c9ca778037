/* sd_notify for nxwd: READY=1, WATCHDOG=1, STATUS=, STOPPING=1. */
#include <stdarg.h>
#include <stdio.h>

#include "nxwd.h"

#ifdef NX_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>

static uint64_t watchdog_ns;

void
nxwd_notify_init(void)
{
	uint64_t usec = 0;

	/* 0 unset: NotifyAccess=main keeps nxd (our child) from speaking for us */
	if (sd_watchdog_enabled(0, &usec) > 0 && usec != 0)
		watchdog_ns = usec * 1000ull / 2;
}

uint64_t
nxwd_notify_watchdog_ns(void)
{
	return watchdog_ns;
}

void
nxwd_notify_ready(void)
{
	sd_notify(0, "READY=1");
}

void
nxwd_notify_watchdog(void)
{
	sd_notify(0, "WATCHDOG=1");
}

void
nxwd_notify_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}

void
nxwd_notify_status(const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	sd_notifyf(0, "STATUS=%s", buf);
}

#else /* !NX_HAVE_SYSTEMD */

void
nxwd_notify_init(void)
{
}

uint64_t
nxwd_notify_watchdog_ns(void)
{
	return 0;
}

void
nxwd_notify_ready(void)
{
}

void
nxwd_notify_watchdog(void)
{
}

void
nxwd_notify_stopping(void)
{
}

void
nxwd_notify_status(const char *fmt, ...)
{
	(void)fmt;
}

#endif
