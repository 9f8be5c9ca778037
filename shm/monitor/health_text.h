/*
 * shm/monitor/health_text.h - a health snapshot (health_read.h) as text
 * for machines, the same bytes from every tool that shows it: nxtop's
 * --json and --prometheus, nxexport's /api/snapshot and /metrics.
 */
#ifndef NX_SHM_MONITOR_HEALTH_TEXT_H
#define NX_SHM_MONITOR_HEALTH_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "platform/base/buf.h"
#include "shm/monitor/health_read.h"

/** "starting", "running", "stopping", "stopped" of enum nx_inst_state. */
const char *nx__hr_inst_state_name(uint32_t state);
/**
 * The instance's state as a snapshot shows it: the header's while nxd
 * serves; "gone" (its pid died), "stopped", "removed" (the segment is
 * gone, the last header kept) or "absent" (never seen) when it does not.
 */
const char *nx__hr_snap_state(const struct nx_hr_snap *s);
/** "off", "running", "idle", "sleeping". */
const char *nx__hr_worker_state_name(uint32_t state);
/** "free", "attached", "orphaned". */
const char *nx__hr_chan_state_name(uint32_t state);
/** A wall-clock time (CLOCK_REALTIME ns), local: "2024-05-01 12:34:56"; "-" for 0. */
void nx__hr_fmt_wall(char *buf, size_t len, uint64_t wall_ns);

/**
 * Append one snapshot as one JSON object and a newline: raw counters and
 * derived figures; interval_s is the time the rates were taken over, as
 * the reader was told it. b->failed says the text is incomplete.
 */
void nx__hr_text_json(struct nx_buf *b, const char *instance, const struct nx_hr_snap *s,
		      double interval_s);
/**
 * Append one snapshot in the Prometheus text exposition format (version
 * 0.0.4): counters and gauges, every family with HELP and TYPE; rates
 * are left to Prometheus. b->failed says the text is incomplete.
 */
void nx__hr_text_prometheus(struct nx_buf *b, const char *instance, const struct nx_hr_snap *s);

#endif /* NX_SHM_MONITOR_HEALTH_TEXT_H */
