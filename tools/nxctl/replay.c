/*
 * nxctl dlq replay: resubmit dead letters through the normal data path,
 * as a client of the instance like any other, then drain what was
 * resubmitted. A replayed request that fails again becomes a new dead
 * letter, with its new reason.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nx/nx.h>

#include "nxctl.h"
#include "platform/base/json.h"
#include "shm/monitor/ctl_session.h"
#include "shm/shm_internal.h"

static int
unhex(const char *h, uint8_t *out, uint32_t cap, uint32_t *len)
{
	size_t n = strlen(h), i;

	if (n % 2 != 0 || n / 2 > cap)
		return -1;
	for (i = 0; i < n / 2; i++) {
		unsigned v;

		if (sscanf(h + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	*len = (uint32_t)(n / 2);
	return 0;
}

/* The last ID replayed in each ring, to drain up to. */
struct upto {
	char id[32];
	unsigned ring;
};

int
nxctl_dlq_replay(const char *instance, int argc, char **argv, bool json, uint64_t timeout_ns)
{
	char *args[64 + 2], *text, *line, *save = NULL;
	struct upto upto[64];
	unsigned nupto = 0, ok = 0, failed = 0, skipped = 0;
	struct nx_buf out_json = { 0 };
	struct nx_json j;
	struct nx_client *c;
	size_t len;
	int i, rc, status;
	uint8_t in[NX_DLQ_PAYLOAD_MAX], *out;

	if (argc > 64) {
		fprintf(stderr, "nxctl: dlq replay: at most 64 IDs at a time\n");
		return 2;
	}
	args[0] = (char *)"dlq";
	args[1] = (char *)"export";
	for (i = 0; i < argc; i++)
		args[2 + i] = argv[i];
	rc = nx__ctl_command(instance, argc + 2, args, false, timeout_ns, &text, &len, &status);
	if (rc < 0 || status < 0) {
		fprintf(stderr, "nxctl: %s\n", rc < 0 ? nx__errmsg() : text);
		nx__mem_free(rc < 0 ? NULL : text);
		return rc == NX_ENOINST ? 3 : 1;
	}
	rc = nx_open(&c, instance, NULL);
	if (rc < 0) {
		fprintf(stderr, "nxctl: dlq replay: %s\n", nx_errmsg());
		nx__mem_free(text);
		return 3;
	}
	out = malloc(nx_max_payload(c));
	if (out == NULL) {
		nx_close(c);
		nx__mem_free(text);
		return 1;
	}
	nx__json_init(&j, &out_json);
	if (json) {
		nx__json_obj_open(&j);
		nx__json_key(&j, "replayed");
		nx__json_arr_open(&j);
	}
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char id[32], pipe[64], payload_hex[2 * NX_DLQ_PAYLOAD_MAX + 1];
		struct nx_completion comp;
		struct nx_req r;
		uint32_t in_len;
		unsigned ring;
		int idem, pid, st;

		payload_hex[0] = '\0';
		if (sscanf(line, "%31s %63s %d %1024s", id, pipe, &idem, payload_hex) < 3 ||
		    unhex(payload_hex, in, sizeof in, &in_len) < 0 || sscanf(id, "%u.", &ring) != 1) {
			fprintf(stderr, "nxctl: dlq replay: cannot read nxd's line '%s'\n", line);
			skipped++;
			continue;
		}
		pid = nx_pipeline_id(c, pipe);
		if (pid < 0) {
			st = pid;
		} else {
			r = (struct nx_req){ .in = in, .in_len = in_len, .out = out,
					     .out_cap = nx_max_payload(c), .pipeline = (uint16_t)pid,
					     .flags = idem ? NX_REQ_IDEMPOTENT : 0 };
			st = nx_submit(c, &r);
			if (st == 0) {
				st = nx_wait(c, &comp, 1, timeout_ns);
				st = st == 1 ? comp.status : st;
			}
		}
		if (st == 0)
			ok++;
		else
			failed++;
		if (json) {
			nx__json_obj_open(&j);
			nx__json_kstr(&j, "id", id);
			nx__json_kstr(&j, "pipeline", pipe);
			nx__json_kstr(&j, "status", st == 0 ? "ok" : nx_err_name(st));
			nx__json_obj_close(&j);
		} else {
			printf("%-10s %-16s %s\n", id, pipe,
			       st == 0 ? "answered" : st == NX_ENOPIPE ? "pipeline gone: not resubmitted"
			       : nx_strerror(st));
		}
		if (st == NX_ENOPIPE || st == NX_ETIMEDOUT)
			continue; /* kept: it never ran, or its answer is still to come */
		for (i = 0; i < (int)nupto && upto[i].ring != ring; i++)
			;
		if (i == (int)nupto && nupto < 64)
			nupto++;
		if (i < 64) {
			upto[i].ring = ring;
			snprintf(upto[i].id, sizeof upto[i].id, "%s", id);
		}
	}
	nx_close(c);
	free(out);
	nx__mem_free(text);
	/* drain what was resubmitted: all held up to it, when replaying all */
	if (argc == 0 && nupto != 0) {
		args[1] = (char *)"drain";
		for (i = 0; i < (int)nupto; i++)
			args[2 + i] = upto[i].id;
		rc = nx__ctl_command(instance, (int)nupto + 2, args, false, timeout_ns, &text, &len,
				     &status);
		if (rc < 0 || status < 0)
			fprintf(stderr, "nxctl: dlq replay: drain: %s\n", rc < 0 ? nx__errmsg() : text);
		if (rc == 0)
			nx__mem_free(text);
	}
	if (json) {
		nx__json_arr_close(&j);
		nx__json_kuint(&j, "answered", ok);
		nx__json_kuint(&j, "failed", failed);
		nx__json_kuint(&j, "unreadable", skipped);
		nx__json_kbool(&j, "drained", argc == 0);
		nx__json_obj_close(&j);
		nx__buf_put(&out_json, "\n", 1);
		if (nx__json_done(&j))
			fwrite(out_json.p, 1, out_json.len, stdout);
		else
			fprintf(stderr, "nxctl: dlq replay: out of memory\n");
		nx__buf_free(&out_json);
	} else {
		printf("%u answered, %u failed again (new dead letters), %u unreadable%s\n", ok, failed,
		       skipped, argc == 0 ? "; replayed entries drained"
					  : "; named entries are kept: drain them with dlq drain");
	}
	return failed != 0 || skipped != 0 ? 1 : 0;
}
