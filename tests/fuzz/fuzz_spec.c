/*
 * fuzz_spec - the graph-spec parser (core/pipeline/pipe_parse.c), as a [pipeline.NAME]
 * section's body reaches it, and what a finished spec feeds.
 *
 * Input: the section's text ("graph = seq(a, b)\na.stage = tag\n...") up
 * to the first NUL byte; what follows the NUL, if anything, is a payload.
 *
 *   nx__spec_init, nx__spec_parse_text (which calls nx__spec_set per
 *   line), nx__spec_finish; on a finished spec nx__graph_scratch_need;
 *   then nx__pipeline_build with the built-in stages (plugins are refused:
 *   plugin_dirs names no directory) and, when a payload follows the NUL,
 *   one run of the built graph on it as a worker would (nx__pipeline_run),
 *   then nx__pipeline_destroy.
 *
 * A spec whose degraded caches would take more than 64 MiB is not built:
 * SLOT.cache-entries and cache-bytes may ask for 540 MiB a slot, which is
 * an operator's choice, not a bug, and would only trip the RSS limit.
 */
#include <stdlib.h>
#include <string.h>

#include "core/datapath/pipe_run.h"
#include "core/datapath/worker.h"
#include "fuzz_common.h"

#define FZ_PAYLOAD_MAX 4096u
#define FZ_SCRATCH (1u << 20)

static struct nx_pipe_spec spec;
static uint8_t *scratch;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_quiet_logs();
	scratch = malloc(FZ_SCRATCH);
	return scratch == NULL;
}

static void
run_once(const struct nx_pipeline *p, const uint8_t *in, size_t in_len)
{
	static uint32_t rr[NX_MAX_RR];
	struct nx_ctx ctx;
	struct nx_exec x;
	uint8_t *payload, *out;
	struct nx_msg m;

	if (in_len > FZ_PAYLOAD_MAX)
		in_len = FZ_PAYLOAD_MAX;
	/* exact sizes: a stage reading past its input or writing past
	 * out_cap meets a redzone */
	payload = malloc(in_len ? in_len : 1);
	out = malloc(FZ_PAYLOAD_MAX);
	if (payload == NULL || out == NULL)
		goto out;
	memcpy(payload, in, in_len);
	memset(&ctx, 0, sizeof ctx);
	ctx.channel = in_len > 0 ? in[0] : 0; /* a split by client keys on it */
	memset(rr, 0, sizeof rr);
	m = (struct nx_msg){ .in = payload, .in_len = (uint32_t)in_len, .out = out,
			     .out_cap = FZ_PAYLOAD_MAX };
	x = (struct nx_exec){ .ctx = &ctx, .scratch = scratch, .scratch_cap = FZ_SCRATCH,
			      .max_payload = FZ_PAYLOAD_MAX, .rr = rr };
	if (nx__pipeline_run(p, &m, &x) == 0)
		FZ_CHECK(m.out_len <= m.out_cap, "answer of %u bytes in %u", m.out_len, m.out_cap);
	FZ_CHECK(ctx.nroute <= NX_CTX_ROUTE_MAX, "route of %u slots", ctx.nroute);
out:
	free(payload);
	free(out);
}

/* What nx__policy_build would allocate for the slots' caches (one worker). */
static uint64_t
cache_bytes(const struct nx_pipe_spec *sp)
{
	uint64_t total = 0;
	unsigned i;

	for (i = 0; i < sp->nslots; i++) {
		const struct nx_policy_spec *ps = &sp->slots[i].pol;
		uint64_t entries = ps->cache_entries ? ps->cache_entries : 256;
		uint64_t bytes = ps->cache_bytes ? ps->cache_bytes : 256;

		if (ps->set && ps->degraded == NX_DEG_CACHE)
			total += entries * ((16 + 2 * bytes + 63) / 64 * 64) + 2 * FZ_PAYLOAD_MAX;
	}
	return total;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct nx_build_env env = {
		.max_payload = FZ_PAYLOAD_MAX,
		.scratch_bytes = FZ_SCRATCH,
		.nworkers = 1,
		.plugin_dirs = "/nonexistent/nxfuzz", /* never load a plugin */
	};
	const uint8_t *nul = memchr(data, '\0', size);
	size_t tlen = nul != NULL ? (size_t)(nul - data) : size;
	struct nx_pipeline *p;
	char *text;
	int rc;

	text = malloc(tlen + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, tlen);
	text[tlen] = '\0';
	rc = nx__spec_init(&spec, "fz");
	if (rc == 0)
		rc = nx__spec_parse_text(&spec, text);
	if (rc == 0)
		rc = nx__spec_finish(&spec);
	free(text);
	if (rc != 0) {
		FZ_CHECK(rc < 0, "spec: positive %d", rc);
		return 0;
	}
	/* what a finished spec promises */
	FZ_CHECK(spec.nnodes >= 1 && spec.nnodes <= NX_MAX_NODES, "%u nodes", spec.nnodes);
	FZ_CHECK(spec.nslots <= NX_MAX_SLOTS, "%u slots", spec.nslots);
	FZ_CHECK(spec.nchildren <= NX_MAX_CHILDREN, "%u children", spec.nchildren);
	for (unsigned i = 0; i < spec.nnodes; i++) {
		const struct nx_node *nd = &spec.nodes[i];

		FZ_CHECK(nd->kind >= NX_NODE_STAGE && nd->kind <= NX_NODE_RR, "node %u kind %u", i,
			 nd->kind);
		FZ_CHECK((nd->kind != NX_NODE_STAGE && nd->kind != NX_NODE_BRANCH &&
			  nd->kind != NX_NODE_FANOUT) || nd->slot < spec.nslots,
			 "node %u names slot %u of %u", i, nd->slot, spec.nslots);
		FZ_CHECK(nd->kind == NX_NODE_STAGE ||
			 (unsigned)nd->child0 + nd->nchild <= spec.nchildren,
			 "node %u: children %u+%u of %u", i, nd->child0, nd->nchild, spec.nchildren);
		for (unsigned k = 0; nd->kind != NX_NODE_STAGE && k < nd->nchild; k++)
			FZ_CHECK(spec.children[nd->child0 + k] < spec.nnodes,
				 "node %u: child %u is node %u of %u", i, k,
				 spec.children[nd->child0 + k], spec.nnodes);
	}
	(void)nx__graph_scratch_need(spec.nodes, spec.children, FZ_PAYLOAD_MAX);
	(void)nx__graph_scratch_need(spec.nodes, spec.children, UINT32_MAX);
	if (cache_bytes(&spec) > (64u << 20) || nx__pipeline_build(&p, &spec, &env) != 0)
		return 0;
	if (nul != NULL)
		run_once(p, nul + 1, size - tlen - 1);
	nx__pipeline_destroy(p, &env);
	return 0;
}
