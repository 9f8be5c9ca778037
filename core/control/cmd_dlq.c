/*
 * nxctl's dead-letter commands, on nxd's control thread:
 *
 *   dlq list                                the dead letters held, oldest first
 *   dlq show ID                             one, with its payload
 *   dlq drain [ID]                          forget them all, or each ring up to ID
 *   dlq export [ID...]                      what replay resubmits (nxctl dlq replay)
 *
 * A dead letter's ID is WORKER.N: its ring and its number in it.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/base/json.h"

#include "core/control/cmd.h"
#include "core/control/instance.h"

static int
parse_id(const struct nx_instance *inst, const char *s, uint32_t *ring, uint64_t *n)
{
	char *end;
	unsigned long w;
	unsigned long long k;

	if (!isdigit((unsigned char)s[0]))
		goto bad;
	w = strtoul(s, &end, 10);
	if (end == s || *end != '.' || !isdigit((unsigned char)end[1]))
		goto bad;
	errno = 0;
	k = strtoull(end + 1, &end, 10);
	if (*end != '\0' || errno != 0 || w >= inst->dlq.nrings)
		goto bad;
	*ring = (uint32_t)w;
	*n = k;
	return 0;
bad:
	return nx__err(NX_EINVAL, "dead letter '%s': expected WORKER.N as dlq list shows", s);
}

/* A slot's name, copied out of the health segment with a bound: whatever
 * wrote there last, it ends within its field. */
static const char *
slot_name(const struct nx_instance *inst, uint16_t slot, char *buf, size_t len)
{
	const struct nx_health_slot *hs;

	if (slot >= inst->hv.max_slots || inst->hv.slots[slot].state == 0)
		return "-";
	hs = &inst->hv.slots[slot];
	snprintf(buf, len, "%.*s", (int)sizeof hs->name, hs->name);
	return buf;
}

static double
entry_age(const struct nx_dlq_entry *e, uint64_t now)
{
	return now > e->at_ns ? (double)(now - e->at_ns) / 1e9 : 0;
}

/* The entry's pipeline name, NUL-terminated (its field need not be). */
static const char *
entry_pipe(const struct nx_dlq_entry *e, char pipe[NX_PIPE_NAME_MAX + 1])
{
	memcpy(pipe, e->pipeline, NX_PIPE_NAME_MAX);
	pipe[NX_PIPE_NAME_MAX] = '\0';
	return pipe;
}

/* One row of dlq list after its ID column. */
static void
entry_text(struct nx_instance *inst, const struct nx_dlq_entry *e, uint64_t now,
	   struct nx_buf *out)
{
	char pipe[NX_PIPE_NAME_MAX + 1], sname[40];

	nx__buf_printf(out, "%-10s %8.1fs  %-12s %-16s %-12s pid %-7d ch %-4u %6u B%s\n",
		       "", entry_age(e, now), nx_err_name(e->status), entry_pipe(e, pipe),
		       slot_name(inst, e->slot, sname, sizeof sname), e->pid, e->channel, e->len,
		       (e->flags & NX_DLQ_F_TRUNCATED) ? " (truncated)" : "");
}

/* The entry's members, into the object j has open. */
static void
entry_json(struct nx_instance *inst, uint32_t ring, const struct nx_dlq_entry *e, uint64_t now,
	   struct nx_json *j)
{
	char pipe[NX_PIPE_NAME_MAX + 1], sname[40], id[32];

	snprintf(id, sizeof id, "%u.%" PRIu64, ring, e->n);
	nx__json_kstr(j, "id", id);
	nx__json_kdouble(j, "age_s", entry_age(e, now), 3);
	nx__json_kstr(j, "status", nx_err_name(e->status));
	nx__json_kstr(j, "reason", nx_strerror(e->status));
	nx__json_kstr(j, "pipeline", entry_pipe(e, pipe));
	nx__json_kstr(j, "slot", slot_name(inst, e->slot, sname, sizeof sname));
	nx__json_kint(j, "pid", e->pid);
	nx__json_kuint(j, "channel", e->channel);
	nx__json_kuint(j, "generation", e->generation);
	nx__json_kuint(j, "len", e->len);
	nx__json_kbool(j, "truncated", (e->flags & NX_DLQ_F_TRUNCATED) != 0);
	nx__json_kbool(j, "idempotent", (e->flags & NX_DLQ_F_IDEMPOTENT) != 0);
}

static int
dlq_list(struct nx_instance *inst, int argc, char **argv, bool json, struct nx_buf *out)
{
	uint64_t now = nx__clock_ns(), held = 0, written = 0, dropped = 0, corrupt = 0;
	uint32_t r;
	struct nx_json j;

	(void)argc;
	(void)argv;
	nx__json_init(&j, out);
	if (json) {
		nx__json_obj_open(&j);
		nx__json_key(&j, "entries");
		nx__json_arr_open(&j);
	} else {
		nx__buf_printf(out, "%-10s %9s  %-12s %-16s %-12s\n", "ID", "AGE", "STATUS", "PIPELINE",
			       "SLOT");
	}
	for (r = 0; r < inst->dlq.nrings; r++) {
		const struct nx_dlq_ring *ring = nx__dlq_ring(&inst->dlq, r);
		uint64_t n, head = ck_pr_load_64(&ring->head);

		written += head;
		dropped += ck_pr_load_64(&ring->dropped);
		for (n = nx__dlq_first(ring, inst->dlq.entries); n < head; n++) {
			struct nx_dlq_entry e;
			enum nx_dlq_got got = nx__dlq_read(ring, inst->dlq.entries, n, &e);

			if (got == NX_DLQ_CORRUPT)
				corrupt++;
			if (got != NX_DLQ_OK)
				continue;
			held++;
			if (json) {
				nx__json_obj_open(&j);
				entry_json(inst, r, &e, now, &j);
				nx__json_obj_close(&j);
			} else {
				char id[32];

				snprintf(id, sizeof id, "%u.%" PRIu64, r, n);
				nx__buf_printf(out, "%-10s", id);
				entry_text(inst, &e, now, out);
			}
		}
	}
	if (json) {
		nx__json_arr_close(&j);
		nx__json_kuint(&j, "held", held);
		nx__json_kuint(&j, "written", written);
		nx__json_kuint(&j, "dropped", dropped);
		nx__json_kuint(&j, "corrupt", corrupt);
		nx__json_kuint(&j, "capacity", inst->dlq.entries * inst->dlq.nrings);
		nx__cmd_json_close(&j);
	} else {
		nx__buf_printf(out, "%" PRIu64 " held, %" PRIu64 " written, %" PRIu64
			       " dropped (ring full), %u per worker\n", held, written, dropped,
			       inst->dlq.entries);
	}
	if (!json && corrupt != 0)
		nx__buf_printf(out, "%" PRIu64 " entries are damaged (not written by a worker of "
			       "this nxd): not shown\n", corrupt);
	return 0;
}

static void
hex(struct nx_buf *out, const uint8_t *p, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		nx__buf_printf(out, "%02x", p[i]);
}

/* The kept payload in hex, as a string for the JSON writer. */
static const char *
hex_str(char *s, const uint8_t *p, uint32_t n)
{
	static const char digits[] = "0123456789abcdef";
	uint32_t i;

	for (i = 0; i < n; i++) {
		s[2 * i] = digits[p[i] >> 4];
		s[2 * i + 1] = digits[p[i] & 15];
	}
	s[2 * n] = '\0';
	return s;
}

static int
dlq_show(struct nx_instance *inst, int argc, char **argv, bool json, struct nx_buf *out)
{
	const char *id = argv[1];
	struct nx_dlq_entry e;
	uint32_t r;
	uint64_t n;
	int rc = parse_id(inst, id, &r, &n);
	const struct nx_dlq_ring *ring;
	enum nx_dlq_got got = NX_DLQ_GONE;
	uint32_t keep;

	(void)argc;
	if (rc < 0)
		return rc;
	ring = nx__dlq_ring(&inst->dlq, r);
	if (n >= nx__dlq_first(ring, inst->dlq.entries) && n < ck_pr_load_64(&ring->head))
		got = nx__dlq_read(ring, inst->dlq.entries, n, &e);
	if (got == NX_DLQ_CORRUPT)
		return nx__err(NX_EPROTO, "dead letter %s is damaged (its fields do not hold "
			       "together): not shown", id);
	if (got != NX_DLQ_OK)
		return nx__err(NX_ENOENT, "dead letter %s is not held (drained, dropped, or never "
			       "written)", id);
	keep = nx__dlq_kept(&e);
	if (json) {
		char payload[2 * NX_DLQ_PAYLOAD + 1];
		struct nx_json j;

		nx__cmd_json_open(&j, out, NULL, NULL);
		entry_json(inst, r, &e, nx__clock_ns(), &j);
		nx__json_kstr(&j, "payload_hex", hex_str(payload, e.payload, keep));
		nx__cmd_json_close(&j);
	} else {
		nx__buf_printf(out, "%-10s", id);
		entry_text(inst, &e, nx__clock_ns(), out);
		nx__buf_printf(out, "reason: %s\npayload (%u bytes%s): ", nx_strerror(e.status), e.len,
			       keep < e.len ? ", first 512 shown" : "");
		hex(out, e.payload, keep);
		nx__buf_printf(out, "\n");
	}
	return 0;
}

static int
dlq_drain(struct nx_instance *inst, int argc, char **argv, bool json, struct nx_buf *out)
{
	uint64_t drained = 0;
	uint32_t r;
	int i, rc;

	argc--; /* the IDs */
	argv++;
	if (argc == 0) {
		for (r = 0; r < inst->dlq.nrings; r++) {
			struct nx_dlq_ring *ring = nx__dlq_ring(&inst->dlq, r);
			uint64_t head = ck_pr_load_64(&ring->head), first = nx__dlq_first(ring, inst->dlq.entries);

			drained += head - first;
			ck_pr_store_64(&ring->tail, head);
		}
	}
	if (argc > 64)
		return nx__err(NX_EINVAL, "dlq drain takes at most 64 IDs");
	/* every ID checked before any ring moves: a refusal changes nothing */
	for (i = 0; i < argc; i++) {
		uint64_t n;

		rc = parse_id(inst, argv[i], &r, &n);
		if (rc < 0)
			return rc;
		if (n >= ck_pr_load_64(&nx__dlq_ring(&inst->dlq, r)->head))
			return nx__err(NX_ENOENT, "dead letter %s was never written", argv[i]);
	}
	for (i = 0; i < argc; i++) {
		struct nx_dlq_ring *ring;
		uint64_t n, first;

		(void)parse_id(inst, argv[i], &r, &n);
		ring = nx__dlq_ring(&inst->dlq, r);
		first = nx__dlq_first(ring, inst->dlq.entries);
		if (n + 1 > first) {
			drained += n + 1 - first;
			ck_pr_store_64(&ring->tail, n + 1);
		}
	}
	if (json) {
		struct nx_json j;

		nx__cmd_json_open(&j, out, NULL, NULL);
		nx__json_kuint(&j, "drained", drained);
		nx__cmd_json_close(&j);
	} else {
		nx__buf_printf(out, "%" PRIu64 " dead letter(s) drained\n", drained);
	}
	return 0;
}

/* One line per entry that can be replayed: "ID PIPELINE IDEMPOTENT HEX". */
static int
dlq_export(struct nx_instance *inst, int argc, char **argv, bool json, struct nx_buf *out)
{
	uint32_t want_r[64];
	uint64_t want_n[64];
	uint32_t r;
	int i, rc;

	(void)json; /* one line per entry, for nxctl to replay */
	argc--; /* the IDs */
	argv++;
	if (argc > 64)
		return nx__err(NX_EINVAL, "dlq export takes at most 64 IDs");
	for (i = 0; i < argc; i++) {
		rc = parse_id(inst, argv[i], &want_r[i], &want_n[i]);
		if (rc < 0)
			return rc;
	}
	for (r = 0; r < inst->dlq.nrings; r++) {
		const struct nx_dlq_ring *ring = nx__dlq_ring(&inst->dlq, r);
		uint64_t n, head = ck_pr_load_64(&ring->head);

		for (n = nx__dlq_first(ring, inst->dlq.entries); n < head; n++) {
			struct nx_dlq_entry e;
			bool want = argc == 0;

			for (i = 0; i < argc && !want; i++)
				want = want_r[i] == r && want_n[i] == n;
			if (!want || nx__dlq_read(ring, inst->dlq.entries, n, &e) != NX_DLQ_OK ||
			    (e.flags & NX_DLQ_F_TRUNCATED))
				continue;
			nx__buf_printf(out, "%u.%" PRIu64 " %.*s %d ", r, n, NX_PIPE_NAME_MAX,
				       e.pipeline, (e.flags & NX_DLQ_F_IDEMPOTENT) ? 1 : 0);
			hex(out, e.payload, nx__dlq_kept(&e));
			nx__buf_printf(out, "\n");
		}
	}
	return 0;
}

static const struct nx_cmd subs[] = {
	{ "list", "", 0, 0, dlq_list },
	{ "show", "ID", 1, 1, dlq_show },
	{ "drain", "[ID...]", 0, NX_CMD_ARGS_ANY, dlq_drain },
	{ "export", "[ID...]", 0, NX_CMD_ARGS_ANY, dlq_export },
	{ NULL, NULL, 0, 0, NULL },
};

/* dlq SUB [ARG...]: the sub-command's row, run with argv[0] its name. */
static int
cmd_dlq(struct nx_instance *inst, int argc, char **argv, bool json, struct nx_buf *out)
{
	const struct nx_cmd *c;

	if (inst->dlq.base == NULL)
		return nx__err(NX_ENOENT, "this nxd keeps no dead letters (dlq_entries = 0)");
	for (c = subs; c->name != NULL; c++)
		if (strcmp(c->name, argv[1]) == 0 && argc - 2 >= c->min_args &&
		    (c->max_args == NX_CMD_ARGS_ANY || argc - 2 <= c->max_args))
			return c->run(inst, argc - 1, argv + 1, json, out);
	return nx__err(NX_EINVAL, "%s: wrong arguments (dlq %s)", argv[0], nx__cmd_dlq[0].usage);
}

const struct nx_cmd nx__cmd_dlq[] = {
	{ "dlq", "list|show ID|drain [ID...]|export [ID...]", 1, NX_CMD_ARGS_ANY, cmd_dlq },
	{ NULL, NULL, 0, 0, NULL },
};
