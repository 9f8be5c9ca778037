/*
 * shm/abi/version.h - what two processes check before they trust a byte
 * of each other's: the magic number at the start of each segment, and
 * the versions of the layouts and of the control protocol.
 *
 * Three versions, each bumped on its own:
 *
 *   NX_SHM_VERSION   the segments' layouts (channel, health, dead letters):
 *                    in each segment's header; a reader refuses another.
 *   NX_CTL_VERSION   the control-socket protocol (shm/abi/ctl.h): in each
 *                    message; nxd refuses a client of another.
 *   NX_ABI_VERSION   (include/nx/nx.h) libnx's programming interface, its
 *                    soname. Not a wire or memory version: a client built
 *                    against libnx.so.1 keeps working with any nxd whose
 *                    segments and protocol its libnx speaks.
 *
 * Every file under shm/abi/ is declarations only (types, constants,
 * _Static_asserts): no function, no macro that expands to code, no
 * include but <stdint.h>, <stddef.h> and each other. Any layer may
 * include them, platform/ too (like the kernel's uapi headers).
 */
#ifndef NX_SHM_ABI_VERSION_H
#define NX_SHM_ABI_VERSION_H

#define NX_SHM_VERSION 2u /* channel, health and dead-letter segments; 2: the
			   * descriptors' sequence flags (channel.h) */
#define NX_CTL_VERSION 1u /* control-socket messages (ctl.h) */

#define NX_CHAN_MAGIC 0x4e584348u   /* "NXCH": channel segment */
#define NX_HEALTH_MAGIC 0x4e58484cu /* "NXHL": health segment */
#define NX_DLQ_MAGIC 0x6e78444cu    /* "nxDL": dead-letter segment */

/* The unit every layout is counted in: producer and consumer fields sit
 * on separate lines of this size. */
#define NX_CACHELINE 64

#endif /* NX_SHM_ABI_VERSION_H */
