/*
 * wd.h - what nxwd tells the nxd it starts. Declarations only: nxwd
 * (tools/nxwd/supervise.c) writes it, nxd (tools/nxd/main.c) reads it
 * into struct nx_instance_conf's wd (core/nxd.h); core reads no
 * environment.
 *
 * The environment of every nxd nxwd starts (decimal numbers):
 *
 *   NX_LIFE_FD=FD          nxwd's life-lock segment, inherited: each thread
 *                          of nxd holds its lock, so nxwd sees a death before
 *                          the address space is gone. Absent: unsupervised.
 *   NX_STANDBY_FD=FD       this nxd is a standby (below). Absent: start now.
 *   NX_RESTART_REASON=TEXT why the last nxd went ("killed by signal 9",
 *                          "stalled: worker 0 ..."). Present: this start is a
 *                          restart, logged even if the last nxd stopped cleanly.
 *   NX_RESTART_STATUS=N    the last nxd's exit code, or -signal
 *   NX_RESTART_WALL_NS=N   when nxwd noticed, in ns of the wall clock
 *   NX_RESTART_OLD_PID=N   the last nxd's pid
 *
 * The four NX_RESTART_* are set together on a restart and unset on a
 * first start; each absent one has a default (nxd logs the pid it finds
 * in the health segment, status 0, the time of its own start).
 *
 * A standby does what needs no instance (configuration, topology,
 * placement), writes NX_WD_STANDBY_READY on NX_STANDBY_FD (a stream
 * socket), and waits. nxwd's go is the restart's NX_RESTART_* variables
 * as "KEY=VALUE" strings, each ended by a NUL, an empty one last (so the
 * message ends in two NULs), shorter than NX_WD_GO_MAX bytes; then the standby
 * takes the instance. nxwd closing the socket stands it down.
 */
#ifndef NX_SHM_ABI_WD_H
#define NX_SHM_ABI_WD_H

#define NX_WD_ENV_LIFE_FD "NX_LIFE_FD"
#define NX_WD_ENV_STANDBY_FD "NX_STANDBY_FD"
#define NX_WD_ENV_RESTART_REASON "NX_RESTART_REASON"
#define NX_WD_ENV_RESTART_STATUS "NX_RESTART_STATUS"
#define NX_WD_ENV_RESTART_WALL_NS "NX_RESTART_WALL_NS"
#define NX_WD_ENV_RESTART_OLD_PID "NX_RESTART_OLD_PID"
#define NX_WD_ENV_RESTART_PREFIX "NX_RESTART_" /* what a standby's go may carry */

#define NX_WD_FD_MAX 65535             /* the largest descriptor either variable names */
#define NX_WD_STANDBY_READY 'R'        /* the standby's one byte: ready */
#define NX_WD_GO_MAX 4096              /* the largest go, its two final NULs included */

#endif /* NX_SHM_ABI_WD_H */
