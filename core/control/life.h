/*
 * Life locks: how nxwd learns that every thread of nxd is dead before the
 * kernel has torn its address space down (a millisecond here for a few
 * MiB, and the pidfd waits for it).
 *
 * nxwd creates a small anonymous segment of life locks (shm/abi/life.h;
 * each a platform lock the system lets go when its holder dies) and
 * hands it to each nxd it starts (NX_LIFE_FD). nxd's control thread
 * holds lock 0 and worker i holds lock 1 + i while they run; once all
 * hold theirs, nxd arms the segment (how many, its pid). nxwd's watcher
 * thread then waits for each lock in turn. A thread that dies with its
 * lock held has it released at the start of its exit, with the
 * owner-died mark: when the watcher has them all, no thread of that nxd
 * can run again. A clean stop lets them go instead, without the mark.
 */
#ifndef NX_CORE_LIFE_H
#define NX_CORE_LIFE_H

#include <stdbool.h>
#include <stdint.h>

#include "shm/abi/life.h"

/** nxwd: create the segment, its locks initialised. @return fd (close-on-exec), or < 0 */
int nx__life_create(struct nx_life **out);
/** nxd: map the segment nxwd handed over in fd. @return 0, or < 0 (message set) */
int nx__life_map(struct nx_life **out, int fd);
void nx__life_unmap(struct nx_life *l);

/** nxd: the calling thread holds lock i (waits at most 1 s). @return true when held */
bool nx__life_hold(struct nx_life *l, unsigned i);
/** nxd: the calling thread lets lock i go (a clean stop). */
void nx__life_release(struct nx_life *l, unsigned i);
/** nxd: locks 0 to n - 1 are held by this process's threads: watch them. */
void nx__life_arm(struct nx_life *l, uint32_t n, int32_t pid);

/**
 * nxwd: wait for the next arming after *seen (at most timeout_ns), then
 * for every armed lock. @return 1 when they were all let go and at least
 * one by a dead thread (*pid: whose; *died_wall_ns: CLOCK_REALTIME when
 * the first came free), 0 when all were let go cleanly, -1 when nothing
 * was armed in time
 */
int nx__life_watch(struct nx_life *l, uint32_t *seen, uint64_t timeout_ns, int32_t *pid,
		  uint64_t *died_wall_ns);

#endif /* NX_CORE_LIFE_H */
