/*
 * nx_platform.h - everything nexus needs from the operating system.
 *
 * core/ and shm/ include this header and nothing of the OS. A port to
 * another OS (or to bare metal) supplies these functions and the inline
 * part in its own platform/<os>/ header; the core does not change.
 *
 * Hot-path primitives (clock, RCU quiescent state, cpu relax) are inline
 * and make no system call. Everything else is control path.
 */
#ifndef NX_PLATFORM_H
#define NX_PLATFORM_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nx/nx.h> /* NX_E* codes */

/* ---- errors: thread-local message with context (slow path only) ---- */

/**
 * Record a failure message for this thread, replacing the previous one.
 * Returns err so callers can write `return nx__err(NX_EIO, "...")`.
 * Never hides control flow: the caller writes its own return.
 */
int nx__err(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Prefix the current message with more context ("attach: " + msg). */
int nx__err_ctx(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Like nx__err, appending ": strerror(errno_val)". */
int nx__err_sys(int err, int errno_val, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
const char *nx__errmsg(void);
void nx__err_clear(void);

/* ---- memory: every allocation of core/ and shm/ goes through these ---- */

/*
 * One wrapper, so that a port (bare metal: a static arena) replaces one
 * file, and so that a check can prove the data path never calls it.
 * Control path only. NULL on failure; nx__mem_free(NULL) does nothing.
 */
void *nx__mem_alloc(size_t n);
/** Zeroed, n * size bytes; NULL when the product overflows. */
void *nx__mem_zalloc(size_t n, size_t size);
void *nx__mem_realloc(void *p, size_t n);
/** align a power of two; n rounded up to a multiple of it. */
void *nx__mem_aligned(size_t align, size_t n);
char *nx__mem_strdup(const char *s);
void nx__mem_free(void *p);

/* ---- logging ---- */

enum nx_log_level { NX_LOG_ERR = 0, NX_LOG_WARN = 1, NX_LOG_INFO = 2, NX_LOG_DEBUG = 3 };
typedef void (*nx_log_sink_fn)(int level, const char *line, void *arg);

void nx__log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void nx__log_set_level(int level);
/** Replace the sink (default: stderr with a timestamp). NULL restores. */
void nx__log_set_sink(nx_log_sink_fn fn, void *arg);
void nx__log_set_ident(const char *ident);
/**
 * One line to stderr, with no lock and without blocking (stderr is set
 * non-blocking: a full pipe drops the line): for a process about to exit
 * while another thread may hold stdio.
 */
void nx__log_last_words(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- clock ---- */

/** Monotonic time in ns (inline, no system call where the OS allows). */
static inline uint64_t nx__clock_ns(void);
/**
 * A cheap timestamp for measuring short intervals on the data path (TSC
 * on x86, the monotonic clock elsewhere). Only differences are meaningful;
 * convert them with nx__ticks_to_ns(). Heartbeats use nx__clock_ns().
 */
static inline uint64_t nx__ticks(void);
/** Convert a tick difference to ns (after nx__ticks_calibrate()). */
static inline uint64_t nx__ticks_to_ns(uint64_t ticks);
/** Convert ns to ticks (control path: it divides). */
static inline uint64_t nx__ns_to_ticks(uint64_t ns);
/** Measure the tick rate against the monotonic clock (2 ms of spinning, control path). */
void nx__ticks_calibrate(void);
/** The calibration (ns per tick << 32), to hand to another process of this boot. */
uint64_t nx__ticks_calibration(void);
/**
 * Take a calibration another process measured on this boot instead of
 * measuring again. @return false when it is implausible (not between
 * 0.05 and 20 ns per tick) and was not taken
 */
bool nx__ticks_adopt(uint64_t calibration);
/** Sleep for ns (control path). */
void nx__sleep_ns(uint64_t ns);
/** Wall-clock time in ns since the epoch (for logs and restart records). */
uint64_t nx__wallclock_ns(void);

/* ---- CPU ---- */

static inline void nx__cpu_relax(void);
/**
 * Ask for the line at p to be owned, for a store soon (PREFETCHW where the
 * CPU has it). A line another core last wrote or read must be taken from
 * it before our store: asked for early, the transfer overlaps other work.
 */
static inline void nx__prefetch_w(const void *p);
int nx__cpu_count(void);
/** CPU the calling thread runs on now, or -1. */
int nx__cpu_current(void);

/* ---- threads ---- */

struct nx_thread;
typedef void *(*nx_thread_fn)(void *arg);

/**
 * Start a thread named name (<= 15 chars), pinned to cpu (or unpinned
 * when cpu < 0). @return 0, NX_EINVAL (cpu out of range), NX_EIO
 */
int nx__thread_create(struct nx_thread **out, const char *name, int cpu, nx_thread_fn fn,
		     void *arg);
int nx__thread_join(struct nx_thread *t);
/** Pin the calling thread to one CPU. @return 0 or NX_EIO */
int nx__thread_pin_self(int cpu);
/** Kernel thread id of the calling thread. */
int32_t nx__thread_tid(void);
/** Give up the CPU once (idle strategy "yield"). */
void nx__thread_yield(void);
/** Try to make the calling thread SCHED_FIFO at prio. @return 0 or NX_EPERM/NX_EIO */
int nx__thread_set_rt(int prio);

/* ---- topology: what the placement policy (core/control/place.c) decides over ---- */

/* CPU numbers a topology or a cpulist may hold: [0, NX_CPU_LIMIT); Linux NR_CPUS <= 8192. */
#define NX_CPU_LIMIT 65536
/* NUMA nodes kept per PU (the nodes whose memory is local to it). */
#define NX_TOPO_PU_NUMA_MAX 8

/** One processing unit (hardware thread). */
struct nx__topo_pu {
	int cpu;                       /**< OS index, < NX_CPU_LIMIT */
	int core;                      /**< logical index of its core; -1 when the
					*   topology puts it under no core */
	int numa[NX_TOPO_PU_NUMA_MAX]; /**< OS indices of its local NUMA nodes, ascending */
	int nnuma;                     /**< how many (0: unknown) */
	bool allowed;                  /**< the OS lets this process's cgroup use it */
	bool affine;                   /**< in this process's affinity mask */
	bool isolated;                 /**< in the kernel's list of isolated CPUs */
};

/** A machine as plain data: no policy, no OS type. */
struct nx__topo {
	struct nx__topo_pu *pu; /**< every PU in topology order: a core's PUs adjacent */
	int npus;
	int *numa;              /**< every NUMA node's OS index, ascending */
	int nnuma;
	/** "" or why the isolated CPUs are unknown ("cannot read <path> (<reason>)") */
	char isolated_unread[192];
};

/* What nx__topo_load reads besides the topology. */
enum {
	NX_TOPO_AFFINITY = 1, /**< this process's affinity mask (else: affine = allowed) */
	NX_TOPO_ISOLATED = 2, /**< the kernel's isolated CPUs (else: none) */
};

/**
 * Load the machine's topology, or a synthetic one (tests; a description
 * in the port's own syntax), and with it what `what` asks for. A
 * synthetic topology reads nothing of the machine: every PU allowed and
 * affine, none isolated. An unreadable isolated list is not an error: it
 * is said in isolated_unread. Release with nx__topo_free.
 * @return 0, NX_EINVAL (bad synthetic description, bad isolated list),
 *   NX_ENOMEM, NX_EIO
 */
int nx__topo_load(struct nx__topo *topo, const char *synthetic, unsigned what);
void nx__topo_free(struct nx__topo *topo);

/** Parse "0-3,6,8-9" into cpus[]. @return count, or NX_EINVAL */
int nx__cpulist_parse(const char *s, int *cpus, int max);
/**
 * Parse a cpulist into bits (NX_CPU_LIMIT bits, CPU c at bits[c / 64]
 * bit c % 64), adding to what is there. @return the bits now set, or NX_EINVAL
 */
int nx__cpulist_bits(const char *s, uint64_t *bits);

/* ---- futex: wait and wake, usable across processes ---- */

/**
 * Sleep while *word == expected, at most timeout_ns (0 = forever).
 * shared: the word is in memory shared with other processes.
 * @return 0 (woken or value changed), NX_ETIMEDOUT
 */
int nx__futex_wait(const uint32_t *word, uint32_t expected, uint64_t timeout_ns, bool shared);
/** Wake up to n waiters on word. Needs only read access to the word. */
void nx__futex_wake(const uint32_t *word, int n, bool shared);

struct nx_futex_waiter {
	const uint32_t *word;
	uint32_t expected;
	bool shared;
};
#define NX_FUTEX_WAITV_MAX 128
/**
 * Sleep until any of the words differs from its expected value or is
 * woken, at most timeout_ns (0 = forever). Falls back to a timed sleep
 * when the kernel has no futex_waitv.
 * @return 0, NX_ETIMEDOUT
 */
int nx__futex_waitv(const struct nx_futex_waiter *w, unsigned n, uint64_t timeout_ns);

/* ---- life locks: a lock the kernel lets go when its holder dies ---- */

/*
 * A lock in memory shared between processes that the system releases,
 * with a mark, when the thread holding it dies (on Linux a robust,
 * process-shared mutex). Its room is a struct nx_life_lock of
 * shm/abi/life.h (NX_LIFE_LOCK_BYTES, 8-aligned); each port checks at
 * build time that its lock fits. Who holds which lock is core/control/life.c's.
 */
struct nx_life_lock;

/** Make the room a lock, not held (by its segment's creator, before sharing it). */
void nx__life_lock_init(struct nx_life_lock *l);
/**
 * Take the lock, waiting at most timeout_ns (0 = as long as it takes).
 * @return 0 (held), 1 (held; its last holder died holding it: it is made
 *   consistent again), NX_ETIMEDOUT, or NX_EIO
 */
int nx__life_lock_take(struct nx_life_lock *l, uint64_t timeout_ns);
/** Let the lock go (by the thread that holds it). */
void nx__life_lock_give(struct nx_life_lock *l);

/* ---- shared memory ---- */

/**
 * Create a named segment of len bytes with the given mode, exclusively.
 * @return fd (>= 0), NX_EBUSY (exists), NX_EPERM, NX_EIO
 */
int nx__shm_create(const char *name, size_t len, uint32_t mode);
/** Open an existing named segment. @return fd, NX_ENOENT, NX_EPERM, NX_EIO */
int nx__shm_open(const char *name, bool writable);
/** Remove a named segment. @return 0, NX_ENOENT, NX_EIO */
int nx__shm_unlink(const char *name);
/** A segment found in place is ours: a regular file of this uid (else
 * NX_EPERM, saying whose), made mode. */
int nx__shm_own(int fd, const char *name, uint32_t mode);
/** True when a named segment exists. */
bool nx__shm_exists(const char *name);
/**
 * Create an anonymous segment (memfd) of len bytes, sealed so that
 * nobody can shrink or grow it. @return fd or NX_EIO
 */
int nx__shm_create_anon(const char *name, size_t len);
/** True when fd is sealed against shrinking and growing. */
bool nx__shm_is_sealed(int fd);
/** Size of the segment behind fd. @return bytes, or NX_EIO */
int64_t nx__shm_size(int fd);
/** True when the segment behind fd no longer has a name (removed, maybe
 *  replaced by a new one of the same name). */
bool nx__shm_unlinked(int fd);
/** Owner uid of the segment behind fd, or -1. */
int64_t nx__shm_owner(int fd);
/** Map len bytes of fd shared; writable or read-only. @return 0 or NX_EIO */
int nx__shm_map(void **out, int fd, size_t len, bool writable);
int nx__shm_unmap(void *addr, size_t len);
/**
 * Replace one page of a mapping with a private, zeroed page of this
 * process, so that what it holds cannot be changed by anyone else.
 */
int nx__shm_overlay_private(void *page_addr);
/** Lock a segment's file so that only one process may serve it. */
int nx__shm_lock(int fd);
void nx__fd_close(int fd);
size_t nx__page_size(void);

/* ---- memory ---- */

/** mlockall(current and future). @return 0, NX_EPERM, NX_ENOMEM, NX_EIO */
int nx__mem_lock_all(void);
/** Touch every page of [addr, addr+len) so it is backed now. */
void nx__mem_prefault(void *addr, size_t len, bool writable);

/* ---- fault containment (platform/linux/fault.c says what it promises) ---- */

/** Install the process's SIGSEGV, SIGBUS, SIGFPE, SIGILL handler. @return 0 or NX_EIO */
int nx__fault_install(void);
/** Give this thread an alternate signal stack; once per thread. @return 0, NX_ENOMEM, NX_EIO */
int nx__fault_thread_init(void);
void nx__fault_thread_fini(void);
/**
 * Run fn(arg) so that a fault inside it, on this thread, returns here.
 * @param sig  receives 0, or the signal that stopped fn
 * @return what fn returned, or 0 when it faulted
 */
int nx__fault_call(int (*fn)(void *), void *arg, int *sig);

/* ---- processes ---- */

int32_t nx__process_id(void);
uint32_t nx__process_uid(void);
/** Dumpable or not (PR_SET_DUMPABLE): a process that is not cannot be
 * ptraced, nor its /proc/pid/fd and mem read, by its own uid; it leaves
 * no core dump. */
int nx__process_set_dumpable(bool on);
/** True when pid exists. */
bool nx__process_alive(int32_t pid);
/** Start time of pid in clock ticks since boot (detects pid reuse), 0 if gone. */
uint64_t nx__process_start_time(int32_t pid);
/** CPU time (user + system) pid has used, in ns; 0 if gone. */
uint64_t nx__process_cpu_ns(int32_t pid);

/* ---- control transport (UNIX seqpacket with credentials and fd passing) ---- */

struct nx_peer_cred {
	int32_t pid; /* 0: the peer is in a PID namespace this process cannot see */
	uint32_t uid;
	uint32_t gid;
};

/**
 * Which file fd is (fstat's st_dev and st_ino): two descriptors with the
 * same are the same file, a memfd's being unique while it exists.
 * @return 0, or NX_EIO (message set)
 */
int nx__fd_ident(int fd, uint64_t *dev, uint64_t *ino);
/** This process's PID namespace (an inode number), 0 when /proc does not say. */
uint64_t nx__pid_ns_id(void);

#define NX_CTL_NAME_MAX 48 /**< an instance's name and a suffix */
/** The longest runtime directory: "<dir>/<name>" fits a socket's address (108 bytes). */
#define NX_RUNTIME_DIR_MAX (108 - 1 - 1 - NX_CTL_NAME_MAX)

/**
 * The runtime directory, where control sockets and instance locks live
 * (platform/linux/ctl.c says why): the one set, else NX_RUNTIME_DIR, else
 * /run/nexus for root, $XDG_RUNTIME_DIR/nexus or /tmp/nexus-<uid> for
 * others. @return 0, NX_EINVAL (not absolute, or too long for a socket)
 */
int nx__runtime_dir(char *buf, size_t len);
/** A uid a client trusts to be nxd: root, its own, or NX_TRUST_UID. */
bool nx__uid_trusted(uint32_t uid);
/** Set this process's runtime directory (nxd --runtime-dir). */
int nx__runtime_dir_set(const char *dir);
/** The path of an instance's control socket. */
int nx__ctl_path(char *buf, size_t len, const char *instance);
/**
 * Take the instance (its lock in the runtime directory, which must be
 * trusted, and which is created if missing) and listen on its control
 * socket. *lock_fd receives the lock, held until nx__ctl_unlisten.
 * @return fd, NX_EBUSY (another nxd holds it), NX_EPERM (a file there
 *   belongs to another uid, or the directory is not trusted), NX_EIO
 */
int nx__ctl_listen(const char *instance, int *lock_fd);
/** Close the listener; with the lock held, remove socket and lock. */
void nx__ctl_unlisten(const char *instance, int fd, int lock_fd);
/**
 * Connect to the instance's control socket, after checking that it can
 * only be nxd's: the runtime directory trusted (root, this uid, or
 * NX_TRUST_UID), the socket owned by a trusted uid, the listener running
 * as that uid. @return fd, NX_ENOINST, NX_EPERM (not trusted: says why), NX_EIO
 */
int nx__ctl_connect(const char *instance);
/** Accept a peer. @return fd, NX_EAGAIN (none), NX_EIO */
int nx__ctl_accept(int lfd, struct nx_peer_cred *cred);
/** The peer on fd is in group gid (its primary or a supplementary one). */
bool nx__ctl_peer_in_group(int fd, const struct nx_peer_cred *cred, uint32_t gid);
/** Credentials of the process at the other end of fd. */
int nx__ctl_peer_cred(int fd, struct nx_peer_cred *cred);
/**
 * Send one message, with an fd attached when pass_fd >= 0.
 * @return 0, NX_EAGAIN (a non-blocking socket is full: nothing sent),
 *   NX_ECLOSED (peer gone), NX_EIO
 */
int nx__ctl_send(int fd, const void *msg, size_t len, int pass_fd);
/**
 * Receive one message (and an fd, if one came), waiting at most
 * timeout_ns (0 = do not wait, UINT64_MAX = forever).
 * @return length (> 0), NX_EAGAIN (nothing yet), NX_ETIMEDOUT,
 *   NX_ECLOSED (peer closed), NX_EPROTO (truncated), NX_EIO
 */
int nx__ctl_recv(int fd, void *msg, size_t cap, int *recv_fd, uint64_t timeout_ns);

/* ---- event loop for the control thread ---- */

struct nx_evloop;
enum { NX_EV_IN = 1, NX_EV_HUP = 2, NX_EV_OUT = 4 };
int nx__evloop_create(struct nx_evloop **out);
void nx__evloop_destroy(struct nx_evloop *ev);
/** Watch fd for input (and hang-up). @return 0 or NX_EIO */
int nx__evloop_add(struct nx_evloop *ev, int fd, uint64_t key);
/** Watch fd for NX_EV_IN or NX_EV_OUT instead (hang-up always). @return 0 or NX_EIO */
int nx__evloop_mod(struct nx_evloop *ev, int fd, uint64_t key, uint32_t want);
int nx__evloop_del(struct nx_evloop *ev, int fd);
/**
 * Wait for events, at most timeout_ns. keys[i]/flags[i] receive them.
 * @return count (>= 0), NX_EIO
 */
int nx__evloop_wait(struct nx_evloop *ev, uint64_t *keys, uint32_t *flags, int max,
		   uint64_t timeout_ns);

/* ---- notification: wake an event loop from another thread ---- */

/** @return an fd for nx__evloop_add, or NX_EIO */
int nx__notify_create(void);
void nx__notify_signal(int fd);
void nx__notify_drain(int fd);

/* ---- signals ---- */

struct nx_signal_guard;
typedef void (*nx_signal_fn)(void *arg, int sig);

/**
 * Take SIGTERM and SIGINT on a thread of their own (blocked in the
 * caller; nx__thread_create's threads block every signal); SIGPIPE
 * ignored. The first signal calls on_stop(arg, sig) there. If
 * nx__signal_guard_stop() has not been called timeout_ns after it, or a
 * second signal comes, on_timeout(arg, sig or 0) runs there and the
 * process exits with status 1: on_timeout and on_stop must only store,
 * unlink and nx__log_last_words (no stdio, no lock), for the rest of the
 * process may be stuck anywhere, holding anything. If even this thread
 * is held, SIGALRM ends the process 5 s after the deadline.
 * @return 0, NX_ENOMEM, NX_EIO
 */
int nx__signal_guard_start(struct nx_signal_guard **out, uint64_t timeout_ns, nx_signal_fn on_stop,
			  nx_signal_fn on_timeout, void *arg);
/** Disarm and free the guard (signals stay blocked). */
void nx__signal_guard_stop(struct nx_signal_guard *g);
/** Name a signal, e.g. "SIGTERM". */
const char *nx__signal_name(int sig);

/* ---- files an operator names (platform/linux/file.c says why) ---- */

enum nx_file_trust {
	NX_FILE_ANY = 0,     /**< a regular file, whoever owns it */
	NX_FILE_TRUSTED = 1, /**< and owned by root or this uid, writable by no one
			      *   else, in a directory that is the same, under
			      *   directories that are the same or sticky */
};

struct nx_file_info {
	uint64_t size;
	uint64_t dev, ino;    /**< which file it was */
	char real[4096];      /**< its path, every symbolic link resolved */
};

/**
 * Open a file for reading without blocking on it or opening anything
 * else first: a regular file of at most max_bytes (checked with fstat on
 * a descriptor that cannot block), held to trust. what names it in
 * messages ("config", "plugin").
 * @return fd, NX_ENOENT, NX_EINVAL (not a regular file), NX_E2BIG (too
 *   big), NX_EPERM (not trusted: who owns or may write what), NX_EIO
 */
int nx__file_open(const char *path, uint32_t trust, uint64_t max_bytes, const char *what,
		 struct nx_file_info *info);
/**
 * Open a directory (O_PATH) after the same walk, trusted: it and every
 * directory above it owned by root, this uid or also_uid (-1: none),
 * writable by no one else (above it: or sticky), symbolic links on the
 * way owned the same. *owner receives its owner.
 * @return fd, NX_ENOENT, NX_EINVAL, NX_EPERM (who owns or may write what)
 */
int nx__dir_open(const char *path, int64_t also_uid, const char *what, uint32_t *owner);
/**
 * Read a whole file, as nx__file_open opens it, into a NUL-terminated
 * buffer to free(). @return 0 or nx__file_open's errors, NX_ENOMEM
 */
int nx__file_read(const char *path, uint32_t trust, uint64_t max_bytes, const char *what,
		 char **out, size_t *len);

/* ---- configuration files (INI) ---- */

#define NX_CONF_MAX_BYTES (1u << 20) /* a configuration file is at most 1 MiB */

/** Called for every key; return 0, or a negative NX_E* after nx__err(). */
typedef int (*nx_conf_fn)(void *user, const char *section, const char *key, const char *value);
/**
 * Read an INI file (nx__file_read: a regular file of at most
 * NX_CONF_MAX_BYTES, held to trust), calling fn for each key in order.
 * @return 0, or NX_EINVAL with "file:line: what was wrong" (the first
 *   error; nothing after a bad key is trusted by callers), NX_ENOMEM, or
 *   nx__file_open's errors
 */
int nx__conf_parse(const char *path, uint32_t trust, nx_conf_fn fn, void *user);
/** The same on text already in memory; name is for messages. */
int nx__conf_parse_text(const char *text, const char *name, nx_conf_fn fn, void *user);

/* ---- plugins (shared objects) ---- */

#define NX_PLUGIN_MAX_BYTES (256u << 20) /* a plugin file is at most 256 MiB */

/**
 * Read an ELF section of a shared object without loading it: the file
 * must be an ELF shared object for this machine. At most cap bytes go
 * to buf; *len gets the section's size.
 * @return 0, NX_ENOENT (no such section), NX_EINVAL (not a shared
 *   object of this machine), NX_EIO
 */
int nx__elf_section(int fd, const char *section, void *buf, size_t cap, size_t *len);
/**
 * Load the shared object at real (resolved, checked by the caller on fd)
 * now, all symbols resolved, privately; refused when real is no longer
 * the file fd holds. @return 0, NX_EPERM (the file changed), NX_EINVAL
 * (the loader's message)
 */
int nx__dl_open(void **out, int fd, const char *real);
/** A symbol's address, or NULL. */
void *nx__dl_sym(void *h, const char *name);
void nx__dl_close(void *h);

/* ---- random ---- */

/** Seed from the OS (getrandom); control path. */
uint64_t nx__random_seed(void);

/* ---- sanitizer awareness ---- */

/** True when built with ASan or TSan (tests skip what those forbid). */
bool nx__built_with_sanitizer(void);

#if defined(__linux__)
#include "linux/nx_platform_linux.h"
#else
#error "nexus: no platform layer for this OS (add platform/<os>/)"
#endif

#endif /* NX_PLATFORM_H */
