/*
 * nxtop's batch output: one snapshot as JSON (--once --json) or in the
 * Prometheus text exposition format (--prometheus). The text itself is
 * the monitor library's (shm/monitor/health_text.h), shared with nxexport.
 */
#include <errno.h>
#include <stdio.h>

#include "nxtop.h"

/* The text out, and the buffer freed. @return 0, or -1 */
static int
write_out(FILE *f, struct nx_buf *b)
{
	int rc = -1;

	if (b->failed)
		errno = ENOMEM;
	else if (fwrite(b->p, 1, b->len, f) == b->len && fflush(f) == 0 && !ferror(f))
		rc = 0;
	nx__buf_free(b);
	return rc;
}

int
nxtop_write_json(FILE *f, const char *instance, const struct nx_hr_snap *s, double interval_s)
{
	struct nx_buf b = { 0 };

	nx__hr_text_json(&b, instance, s, interval_s);
	return write_out(f, &b);
}

int
nxtop_write_prometheus(FILE *f, const char *instance, const struct nx_hr_snap *s)
{
	struct nx_buf b = { 0 };

	nx__hr_text_prometheus(&b, instance, s);
	return write_out(f, &b);
}
