/*
 * driver.c - a main for the fuzz targets without libFuzzer: the same
 * fuzz_<name>.c built with gcc (and under ASan, UBSan or TSan) runs the
 * inputs it is given, once each, so that the corpora and every crash ever
 * found stay regression tests (tests/fuzz/run-corpus.sh, `make test`).
 *
 *   fuzz_spec [-v] FILE|DIR...
 *
 * A directory means every file in it (not those starting with '.'), in
 * name order, not recursing. Arguments starting with '-' other than -v
 * are ignored (libFuzzer's options, so one command line fits both).
 * LLVMFuzzerInitialize runs once first, when the target has one. Each
 * input is in a heap buffer of exactly its size, so that a sanitizer sees
 * any read past its end. Exit status 0 when every input ran (a crash ends
 * the process, as it would under libFuzzer); 2 when an input cannot be
 * read. -v names each input on stderr before it runs.
 *
 * An input that runs longer than NXFUZZ_TIMEOUT seconds (default 30;
 * libFuzzer's -timeout is 10) is a hang: the driver prints its name and
 * where the main thread is, and aborts.
 */
#include <dirent.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static bool verbose;
static unsigned ran;
static unsigned timeout_s = 30;
static const char *current;

static void
on_alarm(int sig)
{
	void *frames[64];
	int n;

	(void)sig;
	/* dying anyway: stdio and backtrace are good enough here */
	fprintf(stderr, "driver: HANG: %s ran for more than %u s (NXFUZZ_TIMEOUT); the main "
		"thread is at:\n", current != NULL ? current : "?", timeout_s);
	n = backtrace(frames, 64);
	backtrace_symbols_fd(frames, n, 2);
	abort();
}

static int
run_file(const char *path)
{
	struct stat st;
	uint8_t *buf;
	size_t have = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) != 0) {
		fprintf(stderr, "driver: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 2;
	}
	/* at least one byte allocated: malloc(0) may return NULL */
	buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
	if (buf == NULL) {
		close(fd);
		fprintf(stderr, "driver: %s: no memory\n", path);
		return 2;
	}
	while (have < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + have, (size_t)st.st_size - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	close(fd);
	if (verbose)
		fprintf(stderr, "driver: running %s (%zu bytes)\n", path, have);
	current = path;
	alarm(timeout_s);
	LLVMFuzzerTestOneInput(buf, have);
	alarm(0);
	current = NULL;
	free(buf);
	ran++;
	return 0;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
run_dir(const char *dir)
{
	char **names = NULL;
	size_t n = 0, cap = 0, i;
	struct dirent *e;
	DIR *d = opendir(dir);
	int rc = 0;

	if (d == NULL) {
		fprintf(stderr, "driver: %s: %s\n", dir, strerror(errno));
		return 2;
	}
	while ((e = readdir(d)) != NULL) {
		char path[4096];
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			char **more = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof *names);

			if (more == NULL) {
				rc = 2;
				break;
			}
			names = more;
		}
		names[n] = strdup(path);
		if (names[n] == NULL) {
			rc = 2;
			break;
		}
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof *names, by_name);
	for (i = 0; i < n; i++) {
		if (rc == 0)
			rc = run_file(names[i]);
		free(names[i]);
	}
	free(names);
	return rc;
}

int
main(int argc, char **argv)
{
	int i, rc = 0;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "-v") == 0)
			verbose = true;
	if (getenv("NXFUZZ_TIMEOUT") != NULL && atoi(getenv("NXFUZZ_TIMEOUT")) > 0)
		timeout_s = (unsigned)atoi(getenv("NXFUZZ_TIMEOUT"));
	{
		/* the first backtrace() loads libgcc (malloc): not in the handler */
		void *frame;

		(void)backtrace(&frame, 1);
	}
	signal(SIGALRM, on_alarm);
	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc && rc == 0; i++) {
		struct stat st;

		if (argv[i][0] == '-')
			continue;
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "driver: %s: %s\n", argv[i], strerror(errno));
			rc = 2;
		} else if (S_ISDIR(st.st_mode)) {
			rc = run_dir(argv[i]);
		} else {
			rc = run_file(argv[i]);
		}
	}
	fprintf(stderr, "driver: %u input(s) run%s\n", ran, rc ? ", stopped by an error" : "");
	return rc;
}
