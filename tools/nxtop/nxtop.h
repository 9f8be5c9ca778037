/*
 * nxtop.h - what nxtop's parts share: the batch writers (export.c), the
 * screen (screen.c) and the figures' formatting (format.c). Every figure
 * comes from the health reader library (shm/monitor/health_read.h), the
 * state names and the batch text from health_text.h beside it.
 */
#ifndef NX_TOOLS_NXTOP_H
#define NX_TOOLS_NXTOP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "shm/monitor/health_read.h"
#include "shm/monitor/health_text.h"

/* A duration for a person: "850ns", "12.3us", "4.56ms", "2.1s". */
void nxtop_fmt_dur(char *buf, size_t len, uint64_t ns);
/* An uptime: "45s", "12m03s", "3h04m", "2d05h". */
void nxtop_fmt_uptime(char *buf, size_t len, uint64_t ns);
/* A rate: "0", "950", "12.3k", "4.57M". */
void nxtop_fmt_rate(char *buf, size_t len, double per_s);

/**
 * One snapshot as one JSON object and a newline.
 * @return 0, or -1 when writing failed
 */
int nxtop_write_json(FILE *f, const char *instance, const struct nx_hr_snap *s,
		     double interval_s);
/**
 * One snapshot in the Prometheus text exposition format.
 * @return 0, or -1 when writing failed
 */
int nxtop_write_prometheus(FILE *f, const char *instance, const struct nx_hr_snap *s);

/**
 * The interactive screen until the user quits.
 * @return the exit status: 0, or 1 when the reader failed
 */
int nxtop_screen_run(struct nx_hr *r, const char *instance, double interval_s);

#endif /* NX_TOOLS_NXTOP_H */
