/* Names and figures formatted for people (nxtop.h). */
#include <stdio.h>

#include "nxtop.h"

void
nxtop_fmt_dur(char *buf, size_t len, uint64_t ns)
{
	double v = (double)ns;

	if (ns < 1000)
		snprintf(buf, len, "%lluns", (unsigned long long)ns);
	else if (ns < 100000)
		snprintf(buf, len, "%.1fus", v / 1e3);
	else if (ns < 1000000)
		snprintf(buf, len, "%.0fus", v / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, len, "%.2fms", v / 1e6);
	else
		snprintf(buf, len, "%.1fs", v / 1e9);
}

void
nxtop_fmt_uptime(char *buf, size_t len, uint64_t ns)
{
	unsigned long long s = ns / 1000000000ull;

	if (s < 60)
		snprintf(buf, len, "%llus", s);
	else if (s < 3600)
		snprintf(buf, len, "%llum%02llus", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%lluh%02llum", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, len, "%llud%02lluh", s / 86400, s % 86400 / 3600);
}

void
nxtop_fmt_rate(char *buf, size_t len, double per_s)
{
	if (per_s < 0.5)
		snprintf(buf, len, "0");
	else if (per_s < 10000)
		snprintf(buf, len, "%.0f", per_s);
	else if (per_s < 1e6)
		snprintf(buf, len, "%.1fk", per_s / 1e3);
	else
		snprintf(buf, len, "%.2fM", per_s / 1e6);
}
