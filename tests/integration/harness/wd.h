/*
 * nxwd in tests: start it over nxd on a unique instance, its stderr in a
 * log, stop it, read the health header and the restart log.
 */
#ifndef NX_TEST_WD_H
#define NX_TEST_WD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct nxt_wd {
	pid_t pid;
	char instance[64];
	char log[256];
};

/**
 * Start nxwd with its options (NULL-terminated, may be NULL) over
 * "nxd --instance INSTANCE" and nxd's options (may be NULL). stderr and
 * stdout go to w->log; no core dumps. @return pid, or -1
 */
pid_t nxt_wd_spawn(struct nxt_wd *w, const char *instance, const char *const *wd_args,
		   const char *const *nxd_args);
/**
 * SIGTERM, wait at most nxt_patience_ns() (then SIGKILL); the log is removed
 * when nxwd exits 0. @return exit status, 128+sig, or -1
 */
int nxt_wd_stop(struct nxt_wd *w);
/** Wait for nxwd to exit by itself, at most timeout_ns. @return as nxt_wait */
int nxt_wd_wait(struct nxt_wd *w, uint64_t timeout_ns);
/** Print nxwd's log (on failure). */
void nxt_wd_dump_log(const struct nxt_wd *w);
/** How many lines of the log contain text. */
int nxt_log_count(const char *path, const char *text);

/** What the health header says now (zeros when there is no segment). */
struct nxt_hdr {
	uint64_t generation;
	int32_t pid;
	uint32_t state;
	uint64_t restarts;
};
int nxt_hdr_read(const char *instance, struct nxt_hdr *h);
/**
 * Wait until a generation >= min_gen is RUNNING and its control thread
 * answers (no channel is made), at most timeout_ns. @return 0, or -1
 */
int nxt_wait_serving(const char *instance, uint64_t min_gen, uint64_t timeout_ns,
		     struct nxt_hdr *h);

#endif
