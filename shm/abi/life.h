/*
 * shm/abi/life.h - the life segment: how nxwd learns that every thread of
 * nxd is dead before the kernel has torn its address space down.
 *
 * nxwd creates it (anonymous, handed to the nxd it starts) and nxd maps
 * it: nxd's control thread holds lock 0, worker i lock 1 + i, then nxd
 * arms the segment (how many locks, its pid). core/control/life.c says who holds
 * what; a lock itself is the platform's (nx__life_lock_* in
 * platform/nx_platform.h: on Linux a robust, process-shared mutex, which
 * the kernel lets go, marked, when its holder dies). Here a lock is only
 * its room: NX_LIFE_LOCK_BYTES opaque bytes, 8-aligned; each port
 * static-asserts that its lock fits.
 *
 * The room is the largest glibc pthread_mutex_t of the 64-bit Linux ports:
 * 40 bytes on x86-64, where the segment keeps the size and offsets it had
 * when it held those mutexes directly, 48 on aarch64. nxwd and the nxd it
 * starts are one build, so the room only has to agree within a machine.
 */
#ifndef NX_SHM_ABI_LIFE_H
#define NX_SHM_ABI_LIFE_H

#include <stddef.h>
#include <stdint.h>

#define NX_LIFE_LOCKS 257     /* the control thread and up to 256 workers */
#if defined(__aarch64__)
#define NX_LIFE_LOCK_BYTES 48 /* room for one platform lock, 8-aligned */
#else
#define NX_LIFE_LOCK_BYTES 40
#endif

/* One lock: the platform's, opaque here. */
struct nx_life_lock {
	uint64_t opaque[NX_LIFE_LOCK_BYTES / 8];
};

struct nx_life {
	uint32_t armed;  /* futex word: bumped by nxd once its threads hold their locks */
	uint32_t nlocks; /* locks held by the armed nxd */
	int32_t pid;     /* the armed nxd */
	uint32_t pad;
	struct nx_life_lock lock[NX_LIFE_LOCKS];
};
_Static_assert(sizeof(struct nx_life_lock) == NX_LIFE_LOCK_BYTES, "lock room size");
_Static_assert(offsetof(struct nx_life, pid) == 8, "pid at 8");
_Static_assert(offsetof(struct nx_life, lock) == 16, "locks after one 16-byte header");
_Static_assert(sizeof(struct nx_life) == 16 + NX_LIFE_LOCKS * NX_LIFE_LOCK_BYTES, "life segment size");

#endif /* NX_SHM_ABI_LIFE_H */
