/*
 * fuzz_conf - nxd's configuration file, as nxd reads it (tools/nxd/main.c):
 * nx__conf_parse with on_conf's dispatch ([nxd] -> nx__instance_conf_set,
 * [pipeline.NAME] -> nx__instance_conf_pipeline, anything else an error),
 * then nx__instance_conf_finish and nx__instance_conf_release.
 *
 * Input: the file's bytes. Each input goes through both entries:
 *   nx__conf_parse_text on the bytes up to the first NUL (what a caller
 *     holding text in memory passes), and
 *   nx__conf_parse on a file holding the bytes exactly (NULs included: it
 *     must refuse them), in a private directory made once (mkdtemp),
 *     removed at exit.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/nxd.h"
#include "fuzz_common.h"

static char dir[64];
static char path[128];

/* tools/nxd/main.c: on_conf */
static int
on_conf(void *user, const char *section, const char *key, const char *value)
{
	if (strcmp(section, "nxd") == 0)
		return nx__instance_conf_set(user, key, value);
	if (strncmp(section, "pipeline.", 9) == 0)
		return nx__instance_conf_pipeline(user, section + 9, key, value);
	return nx__err(NX_EINVAL, "unknown section [%s] (nxd, pipeline.NAME)", section);
}

static void
cleanup(void)
{
	if (path[0] != '\0')
		unlink(path);
	if (dir[0] != '\0')
		rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_quiet_logs();
	snprintf(dir, sizeof dir, "/tmp/nxfz-conf-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("fuzz_conf: mkdtemp");
		exit(1);
	}
	snprintf(path, sizeof path, "%s/nxd.conf", dir);
	atexit(cleanup);
	return 0;
}

/* As nxd does: defaults, the file, the checks, release (also on error). */
static void
check_conf(const struct nx_instance_conf *c)
{
	unsigned i;

	FZ_CHECK(c->nspecs <= 64, "%u pipeline sections kept", c->nspecs);
	FZ_CHECK(memchr(c->instance, '\0', sizeof c->instance) != NULL, "instance unterminated");
	FZ_CHECK(memchr(c->plugin_dirs, '\0', sizeof c->plugin_dirs) != NULL,
		 "plugin_dirs unterminated");
	FZ_CHECK(memchr(c->isolated, '\0', sizeof c->isolated) != NULL, "isolated unterminated");
	FZ_CHECK(c->ncpus >= 0 && c->ncpus <= NX_PLACE_MAX_WORKERS, "ncpus %d", c->ncpus);
	for (i = 0; i < (unsigned)c->ncpus; i++)
		FZ_CHECK(c->cpus[i] >= 0, "cpu %d", c->cpus[i]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nx_instance_conf c;
	size_t tlen, off = 0;
	char *text;
	int fd, rc;

	/* text in memory */
	tlen = strnlen((const char *)data, size);
	text = malloc(tlen + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, tlen);
	text[tlen] = '\0';
	nx__instance_conf_default(&c);
	rc = nx__conf_parse_text(text, "fuzz.conf", on_conf, &c);
	if (rc == 0)
		rc = nx__instance_conf_finish(&c);
	FZ_CHECK(rc <= 0, "positive %d", rc);
	check_conf(&c);
	nx__instance_conf_release(&c);
	FZ_CHECK(c.specs == NULL && c.nspecs == 0, "release left specs");
	free(text);

	/* the same bytes in a file */
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FZ_CHECK(fd >= 0, "open %s", path);
	while (off < size) {
		ssize_t n = write(fd, data + off, size - off);

		FZ_CHECK(n > 0, "write %s", path);
		off += (size_t)n;
	}
	close(fd);
	nx__instance_conf_default(&c);
	rc = nx__conf_parse(path, NX_FILE_ANY, on_conf, &c);
	if (rc == 0)
		rc = nx__instance_conf_finish(&c);
	FZ_CHECK(rc <= 0, "positive %d", rc);
	FZ_CHECK(rc < 0 || memchr(data, '\0', size) == NULL, "a file holding NUL was taken");
	check_conf(&c);
	nx__instance_conf_release(&c);
	return 0;
}
