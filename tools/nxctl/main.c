/*
 * nxctl - the operator's control of a running nxd: list its pipelines,
 * swap a stage or a whole pipeline, roll a slot back, show the placement.
 * A thin main over the control protocol (shm/monitor/ctl_session.h).
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nxctl.h"
#include "platform/base/json.h"
#include "shm/monitor/ctl_session.h"
#include "shm/shm_internal.h"

_Static_assert(NX_DLQ_PAYLOAD_MAX == NX_DLQ_PAYLOAD, "nxctl reads what nxd keeps");

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: nxctl [--instance NAME] [--json] [--timeout SEC] COMMAND [ARGS]\n"
		"\n"
		"commands:\n"
		"  list                                   pipelines, their graphs and slots:\n"
		"                                         stage, version, swaps, plugin\n"
		"  swap PIPELINE SLOT STAGE [--plugin FILE] [--set KEY=VALUE]... [--probe TEXT]\n"
		"                                         put STAGE (built in, or from FILE) in\n"
		"                                         SLOT: initialised, self-tested, run on\n"
		"                                         TEXT if given, then published; the old\n"
		"                                         one is kept for rollback\n"
		"  swap-pipeline NAME --config FILE       replace (or add) pipeline NAME with\n"
		"                                         FILE's [pipeline.NAME] section\n"
		"  rollback PIPELINE SLOT                 back to the slot's previous stage\n"
		"  placement                              where nxd's threads run, and why\n"
		"  breaker PIPELINE SLOT open|close|auto  force a slot's circuit breakers, or\n"
		"                                         hand them back to their state machine\n"
		"  release PIPELINE SLOT                  put a stage quarantined after a fault\n"
		"                                         back in service\n"
		"  ratelimit CHANNEL|all RATE [BURST]     requests/s per channel (0: no limit)\n"
		"  dlq list                               dead letters held, oldest first\n"
		"  dlq show ID                            one, with its reason and payload\n"
		"  dlq drain [ID]                         forget all, or each ID's ring up to it\n"
		"  dlq replay [ID...]                     resubmit (all, then drained; or those)\n"
		"\n"
		"options:\n"
		"  -i, --instance NAME   the instance (default \"default\")\n"
		"  -j, --json            answer in JSON (one object)\n"
		"  -t, --timeout SEC     wait this long for nxd's answer (default 30)\n"
		"  -h, --help            this text\n"
		"\n"
		"A refused command changes nothing and says why; exit status 1.\n"
		"Exit status 2: bad usage; 3: nxd cannot be reached.\n");
}

/*
 * nxd reads the files a command names (--config, --plugin) from its own
 * working directory, not ours: a relative path is made absolute here.
 * @return 0, or an exit status after saying why
 */
static int
absolute_paths(int argc, char **argv)
{
	static char buf[8][PATH_MAX];
	char cwd[PATH_MAX];
	int i, n = 0;

	for (i = 0; i + 1 < argc; i++) {
		char *f = argv[i + 1];

		if ((strcmp(argv[i], "--config") != 0 && strcmp(argv[i], "--plugin") != 0) ||
		    f[0] == '/' || f[0] == '\0')
			continue;
		if (n == 8 || getcwd(cwd, sizeof cwd) == NULL ||
		    (size_t)snprintf(buf[n], sizeof buf[n], "%s/%s", cwd, f) >= sizeof buf[n]) {
			fprintf(stderr, "nxctl: %s %s: cannot make it an absolute path\n", argv[i], f);
			return 2;
		}
		argv[i + 1] = buf[n++];
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "instance", required_argument, NULL, 'i' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *instance = "default";
	double timeout = 30;
	bool json = false;
	size_t len;
	char *text, *end;
	int opt, rc, status;

	/* '+': stop at the command, whose own options (--set, --plugin) follow */
	while ((opt = getopt_long(argc, argv, "+i:jt:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'i':
			instance = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 't':
			timeout = strtod(optarg, &end);
			if (*end != '\0' || !(timeout > 0) || timeout > 3600) {
				fprintf(stderr, "nxctl: --timeout: '%s' is not 0 to 3600 seconds\n", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (argc - optind >= 2 && strcmp(argv[optind], "dlq") == 0 &&
	    strcmp(argv[optind + 1], "replay") == 0)
		return nxctl_dlq_replay(instance, argc - optind - 2, argv + optind + 2, json,
					(uint64_t)(timeout * 1e9));
	rc = absolute_paths(argc - optind, argv + optind);
	if (rc != 0)
		return rc;
	rc = nx__ctl_command(instance, argc - optind, argv + optind, json,
			     (uint64_t)(timeout * 1e9), &text, &len, &status);
	if (rc < 0) {
		fprintf(stderr, "nxctl: %s\n", nx__errmsg());
		return rc == NX_ENOINST || rc == NX_ETIMEDOUT ? 3 : 1;
	}
	if (status < 0) {
		if (json) {
			struct nx_buf b = { 0 };
			struct nx_json j;

			nx__json_init(&j, &b);
			nx__json_obj_open(&j);
			nx__json_kstr(&j, "error", nx_err_name(status));
			nx__json_kstr(&j, "message", text);
			nx__json_obj_close(&j);
			nx__buf_put(&b, "\n", 1);
			if (nx__json_done(&j))
				fwrite(b.p, 1, b.len, stdout);
			else
				fprintf(stderr, "nxctl: out of memory\n");
			nx__buf_free(&b);
		} else {
			fprintf(stderr, "nxctl: %s\n", text);
		}
		nx__mem_free(text);
		return 1;
	}
	fwrite(text, 1, len, stdout);
	nx__mem_free(text);
	return 0;
}
