/* Logging: one line per call, to stderr by default, with time and level. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../nx_platform.h"

static int log_level = NX_LOG_INFO;
static nx_log_sink_fn log_sink;
static void *log_sink_arg;
static char log_ident[32] = "nx";

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void
nx__log_set_level(int level)
{
	log_level = level;
}

void
nx__log_set_sink(nx_log_sink_fn fn, void *arg)
{
	log_sink = fn;
	log_sink_arg = arg;
}

void
nx__log_set_ident(const char *ident)
{
	snprintf(log_ident, sizeof log_ident, "%s", ident);
}

void
nx__log(int level, const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	(void)n;
	if (log_sink != NULL) {
		log_sink(level, line, log_sink_arg);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	fprintf(stderr, "%02d:%02d:%02d.%03ld %s[%d] %s: %s\n", tm.tm_hour, tm.tm_min,
		tm.tm_sec, ts.tv_nsec / 1000000, log_ident, nx__process_id(),
		level_names[level < 0 ? 0 : level > 3 ? 3 : level], line);
}

void
nx__log_last_words(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n, fl;

	n = snprintf(line, sizeof line, "%s[%d] error: ", log_ident, nx__process_id());
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	/* the process exits next: a full pipe on stderr must not hold it */
	fl = fcntl(2, F_GETFL);
	if (fl >= 0)
		(void)fcntl(2, F_SETFL, fl | O_NONBLOCK);
	if (write(2, line, (size_t)n) < 0)
		return;
}
