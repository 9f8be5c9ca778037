/*
 * fuzz_common.h - what the fuzz targets share: the libFuzzer entry points'
 * prototypes, a cursor over the input, unique names for what a target
 * creates in /dev/shm (and the sweep of names a crashed run left), quiet
 * logging, and a count of open descriptors for leak checks.
 *
 * Every target builds two ways: with clang -fsanitize=fuzzer (build-fuzz/,
 * `make fuzz`) and with tests/fuzz/driver.c as its main, with any compiler
 * and sanitizer (`make fuzzreg`, tests/fuzz/run-corpus.sh).
 */
#ifndef NX_FUZZ_COMMON_H
#define NX_FUZZ_COMMON_H

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "platform/nx_platform.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Stop the run with a message: a finding of the harness itself (a leak
 * of descriptors, a hang it measured), reported like a sanitizer's. */
#define FZ_CHECK(cond, ...)                                                              \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "FUZZ CHECK FAILED: %s:%d: %s: ", __FILE__,       \
				__LINE__, #cond);                                        \
			fprintf(stderr, __VA_ARGS__);                                    \
			fputc('\n', stderr);                                             \
			abort();                                                         \
		}                                                                        \
	} while (0)

/* ---- reading the input ---- */

struct fz_in {
	const uint8_t *p;
	size_t left;
};

static inline uint8_t
fz_u8(struct fz_in *in)
{
	uint8_t v = 0;

	if (in->left > 0) {
		v = *in->p++;
		in->left--;
	}
	return v;
}

static inline uint16_t
fz_u16(struct fz_in *in)
{
	uint16_t lo = fz_u8(in);

	return (uint16_t)(lo | (uint16_t)fz_u8(in) << 8);
}

static inline uint32_t
fz_u32(struct fz_in *in)
{
	uint32_t lo = fz_u16(in);

	return lo | (uint32_t)fz_u16(in) << 16;
}

static inline uint64_t
fz_u64(struct fz_in *in)
{
	uint64_t lo = fz_u32(in);

	return lo | (uint64_t)fz_u32(in) << 32;
}

/* Up to n bytes; *got says how many there were. */
static inline const uint8_t *
fz_bytes(struct fz_in *in, size_t n, size_t *got)
{
	const uint8_t *p = in->p;

	if (n > in->left)
		n = in->left;
	in->p += n;
	in->left -= n;
	*got = n;
	return p;
}

/* ---- names ---- */

#define FZ_PREFIX "nxfz-"

/*
 * An instance name of this process: "nxfz-<pid>-<nonce><suffix>". The
 * pid lets a later run remove what a crashed one left (fz_sweep_stale);
 * the nonce keeps two runs in one pid namespace apart.
 */
static inline void
fz_instance_name(char *buf, size_t len, const char *suffix)
{
	static uint32_t nonce;

	if (nonce == 0 && getrandom(&nonce, sizeof nonce, 0) != (ssize_t)sizeof nonce)
		nonce = (uint32_t)getpid() * 2654435761u;
	snprintf(buf, len, FZ_PREFIX "%d-%08x%s", (int)getpid(), nonce, suffix);
}

/* Remove what a run whose pid is gone left (libFuzzer exits with _Exit:
 * no atexit): /dev/shm/nx.nxfz-<pid>-* segments, and <runtime
 * directory>/nxfz-<pid>-* sockets and locks. */
static inline void
fz_sweep_dir(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		const char *p = e->d_name;
		char *end, path[512];
		long pid;

		if (strncmp(p, prefix, strlen(prefix)) != 0)
			continue;
		p += strlen(prefix);
		pid = strtol(p, &end, 10);
		if (end == p || *end != '-' || pid <= 0 || pid == (long)getpid())
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
}

static inline void
fz_sweep_stale(void)
{
	char rundir[128];

	fz_sweep_dir("/dev/shm", "nx." FZ_PREFIX);
	if (nx__runtime_dir(rundir, sizeof rundir) == 0)
		fz_sweep_dir(rundir, FZ_PREFIX);
}

/* ---- logging ---- */

static inline void
fz_log_discard(int level, const char *line, void *arg)
{
	(void)level;
	(void)line;
	(void)arg;
}

/* Every log line is formatted (its arguments are checked) but not printed,
 * unless NXFUZZ_LOG is set. Before any thread starts. */
static inline void
fz_quiet_logs(void)
{
	nx__log_set_level(NX_LOG_DEBUG);
	if (getenv("NXFUZZ_LOG") == NULL)
		nx__log_set_sink(fz_log_discard, NULL);
}

/* ---- descriptors ---- */

/* Open descriptors whose link names contain what ("" counts all). */
static inline int
fz_count_fds(const char *what)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char path[300], link[300];
		ssize_t k;

		if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d))
			continue;
		snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
		k = readlink(path, link, sizeof link - 1);
		if (k < 0)
			continue;
		link[k] = '\0';
		if (strstr(link, what) != NULL)
			n++;
	}
	closedir(d);
	return n;
}

#endif /* NX_FUZZ_COMMON_H */
