/*
 * fuzz_elf - nx__elf_section (platform/linux/elf.c, over libelf): what nxd
 * reads of a plugin file before it loads it. Input: the file. It is
 * written to a memfd (made once, rewritten per input) and the ".nx_plugin"
 * section asked for as core/pipeline/stage.c's plugin_get asks, into a struct
 * nx_plugin_mark; then once more into a buffer of one byte, and for a
 * section whose name is found only if the file holds it.
 *
 * libelf itself is not instrumented: the fuzzer steers by nx__elf_section's
 * branches and the error paths, and a sanitizer sees only what libelf
 * hands back (a crash inside libelf still stops the run).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <nx/nx_stage.h>

#include "fuzz_common.h"

static int mfd = -1;

static void
cleanup(void)
{
	if (mfd >= 0)
		close(mfd);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_quiet_logs();
	mfd = memfd_create("nxfz-elf", MFD_CLOEXEC);
	if (mfd < 0) {
		perror("fuzz_elf: memfd_create");
		exit(1);
	}
	atexit(cleanup);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nx_plugin_mark mark;
	uint8_t *one;
	size_t off = 0, len;
	int rc;

	FZ_CHECK(ftruncate(mfd, 0) == 0, "ftruncate");
	while (off < size) {
		ssize_t n = pwrite(mfd, data + off, size - off, (off_t)off);

		FZ_CHECK(n > 0, "pwrite");
		off += (size_t)n;
	}
	FZ_CHECK(lseek(mfd, 0, SEEK_SET) == 0, "lseek");

	memset(&mark, 0, sizeof mark);
	rc = nx__elf_section(mfd, NX_PLUGIN_SECTION, &mark, sizeof mark, &len);
	FZ_CHECK(rc == 0 || rc == NX_ENOENT || rc == NX_EINVAL || rc == NX_EIO, "rc %d", rc);
	FZ_CHECK(rc == 0 || len == 0, "len %zu on error %d", len, rc);
	if (rc == 0 && len == sizeof mark)
		(void)memcmp(mark.magic, NX_PLUGIN_MAGIC, sizeof mark.magic);

	/* a buffer smaller than the section: at most cap bytes copied */
	one = malloc(1);
	FZ_CHECK(one != NULL, "malloc");
	FZ_CHECK(lseek(mfd, 0, SEEK_SET) == 0, "lseek");
	rc = nx__elf_section(mfd, NX_PLUGIN_SECTION, one, 1, &len);
	FZ_CHECK(rc <= 0, "rc %d", rc);
	free(one);

	/* a section is found by its name, whose bytes are in the file: the
	 * fuzzer can learn the name (it sees the comparison) and build a file
	 * that has it, so "absent" is judged by the input, not assumed */
	FZ_CHECK(lseek(mfd, 0, SEEK_SET) == 0, "lseek");
	rc = nx__elf_section(mfd, ".nxfz-absent", &mark, sizeof mark, &len);
	FZ_CHECK(rc != 0 || memmem(data, size, ".nxfz-absent", sizeof ".nxfz-absent") != NULL,
		 "found a section whose name is not in the file");
	return 0;
}
