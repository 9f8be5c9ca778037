/*
 * nxt_calls - a client that makes an exact number of calls, for tests
 * that check the health figures against what they produced.
 *
 *   nxt_calls INSTANCE [--hold SECONDS] PIPELINE:COUNT...
 *
 * One client (one channel) makes COUNT synchronous calls on each
 * PIPELINE in turn, prints "ok N failed M" (answers and error answers)
 * and, with --hold, keeps its channel attached for up to SECONDS more so
 * that a reader can see it (the test stops it with SIGTERM).
 * Exit status: 0, 1 when a call timed out (no answer for 60 s, five times
 * that in a sanitized build: $NX_SAN) or attaching failed, 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nx/nx.h>

int
main(int argc, char **argv)
{
	struct nx_client *c;
	unsigned long ok = 0, failed = 0, hold = 0;
	const char *instance, *san = getenv("NX_SAN");
	/* a timeout no loaded machine reaches: a call that times out is lost */
	const uint64_t timeout_ns = (san != NULL && san[0] != '\0' ? 5 : 1) * 60000000000ull;
	int a = 2, rc;

	if (argc < 3) {
		fprintf(stderr, "usage: nxt_calls INSTANCE [--hold SECONDS] PIPELINE:COUNT...\n");
		return 2;
	}
	instance = argv[1];
	if (strcmp(argv[2], "--hold") == 0 && argc > 4) {
		hold = strtoul(argv[3], NULL, 10);
		a = 4;
	}
	rc = nx_open(&c, instance, NULL);
	if (rc < 0) {
		fprintf(stderr, "nxt_calls: %s\n", nx_errmsg());
		return 1;
	}
	for (; a < argc; a++) {
		char name[64], *colon;
		unsigned long n, i;
		int id;

		snprintf(name, sizeof name, "%s", argv[a]);
		colon = strchr(name, ':');
		if (colon == NULL) {
			fprintf(stderr, "nxt_calls: '%s' is not PIPELINE:COUNT\n", argv[a]);
			return 2;
		}
		*colon = '\0';
		n = strtoul(colon + 1, NULL, 10);
		id = nx_pipeline_id(c, name);
		if (id < 0) {
			fprintf(stderr, "nxt_calls: pipeline '%s': %s\n", name, nx_strerror(id));
			return 1;
		}
		for (i = 0; i < n; i++) {
			char in[16], out[64];
			uint32_t len;
			int k = snprintf(in, sizeof in, "req %lu", i);

			rc = nx_call(c, (uint16_t)id, in, (uint32_t)k, out, sizeof out, &len,
				     timeout_ns);
			if (rc == NX_ETIMEDOUT) {
				fprintf(stderr, "nxt_calls: call %lu on %s timed out\n", i, name);
				return 1;
			}
			if (rc == 0)
				ok++;
			else
				failed++;
		}
	}
	printf("ok %lu failed %lu\n", ok, failed);
	fflush(stdout);
	while (hold-- > 0)
		sleep(1);
	nx_close(c);
	return 0;
}
