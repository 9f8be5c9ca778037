/*
 * nxctl's resilience commands, on nxd's control thread:
 *
 *   breaker PIPELINE SLOT open|close|auto   force a slot's breakers, or let go
 *   release PIPELINE SLOT                   put a quarantined stage back in service
 *   ratelimit CHANNEL|all RATE [BURST]      change channels' token buckets (0: none)
 */
#include <stdlib.h>
#include <string.h>

#include "platform/base/json.h"

#include "core/control/chantab.h"
#include "core/control/cmd.h"
#include "core/control/pipetab.h"

static int
cmd_breaker(struct nx_instance *inst, int argc, char **argv, bool json, struct nx_buf *out)
{
	static const char *const names[] = { "auto", "open", "close" };
	const char *pipe = argv[1], *slot = argv[2], *what = argv[3];
	struct nx_pipeline *p;
	struct nx_slot *s;
	uint32_t force;
	int rc = nx__pipetab_find_slot(inst, pipe, slot, &p, &s);

	(void)argc;
	if (rc < 0)
		return rc;
	for (force = 0; force < 3 && strcmp(what, names[force]) != 0; force++)
		;
	if (force == 3)
		return nx__err(NX_EINVAL, "breaker %s %s %s: expected open, close or auto", pipe, slot,
			       what);
	if (!s->pol.breaker)
		return nx__err(NX_EINVAL, "%s/%s has no breaker (set %s.breaker = count or time in "
			       "[pipeline.%s])", pipe, slot, slot, pipe);
	/* each worker applies it at its next call through the slot */
	ck_pr_store_32(&s->pol.force, force);
	if (json) {
		struct nx_json j;

		nx__cmd_json_open(&j, out, pipe, slot);
		nx__json_kstr(&j, "breaker", names[force]);
		nx__cmd_json_close(&j);
	} else {
		nx__buf_printf(out, "%s/%s: breaker %s\n", pipe, slot,
			       force == NX_BRK_FORCE_AUTO ? "back to automatic (closed, fresh window)"
			       : force == NX_BRK_FORCE_OPEN ? "forced open" : "forced closed");
	}
	return 0;
}

static int
cmd_release(struct nx_instance *inst, int argc, char **argv, bool json, struct nx_buf *out)
{
	const char *pipe = argv[1], *slot = argv[2];
	struct nx_pipeline *p;
	struct nx_slot *s;
	uint32_t was;
	int rc = nx__pipetab_find_slot(inst, pipe, slot, &p, &s);

	(void)argc;
	if (rc < 0)
		return rc;
	was = ck_pr_load_32(&s->cur->quarantined);
	ck_pr_store_32(&s->cur->quarantined, 0);
	if (json) {
		struct nx_json j;

		nx__cmd_json_open(&j, out, pipe, slot);
		nx__json_kbool(&j, "was_quarantined", was != 0);
		nx__cmd_json_close(&j);
	} else {
		nx__buf_printf(out, "%s/%s: %s\n", pipe, slot,
			       was ? "released from quarantine" : "was not quarantined");
	}
	return 0;
}

static int
parse_u32(const char *what, const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (s[0] == '\0' || s[0] == '-')
		return nx__err(NX_EINVAL, "%s '%s': expected a number", what, s);
	v = strtoul(s, &end, 10);
	if (*end != '\0' || v > 1000000000ul)
		return nx__err(NX_EINVAL, "%s '%s': expected 0 to 1000000000", what, s);
	*out = (uint32_t)v;
	return 0;
}

static int
cmd_ratelimit(struct nx_instance *inst, int argc, char **argv, bool json, struct nx_buf *out)
{
	uint32_t chan = UINT32_MAX, rate, burst, i, n = 0;
	int rc;

	if (strcmp(argv[1], "all") != 0) {
		rc = parse_u32("channel", argv[1], &chan);
		if (rc < 0)
			return rc;
		if (chan >= inst->conf.max_channels || !inst->chans[chan].in_use)
			return nx__err(NX_ENOENT, "no channel %s is attached", argv[1]);
	}
	rc = parse_u32("rate", argv[2], &rate);
	if (rc == 0 && argc == 4)
		rc = parse_u32("burst", argv[3], &burst);
	else
		burst = rate / 10 != 0 ? rate / 10 : 1;
	if (rc < 0)
		return rc;
	if (rate != 0 && burst == 0)
		return nx__err(NX_EINVAL, "burst 0: a bucket holds at least one token");
	for (i = 0; i < inst->conf.max_channels; i++) {
		struct nx_wchan *ch = &inst->chans[i];

		if (!ch->in_use || (chan != UINT32_MAX && i != chan))
			continue;
		nx__chan_set_limit(ch, rate, burst);
		n++;
	}
	if (json) {
		struct nx_json j;

		nx__cmd_json_open(&j, out, NULL, NULL);
		nx__json_kuint(&j, "channels", n);
		nx__json_kuint(&j, "rate", rate);
		nx__json_kuint(&j, "burst", burst);
		nx__cmd_json_close(&j);
	} else if (rate == 0) {
		nx__buf_printf(out, "%u channel(s): no rate limit\n", n);
	} else {
		nx__buf_printf(out, "%u channel(s): %u requests/s, burst %u\n", n, rate, burst);
	}
	return 0;
}

const struct nx_cmd nx__cmd_policy[] = {
	{ "breaker", "PIPELINE SLOT open|close|auto", 3, 3, cmd_breaker },
	{ "release", "PIPELINE SLOT", 2, 2, cmd_release },
	{ "ratelimit", "CHANNEL|all RATE [BURST]", 2, 3, cmd_ratelimit },
	{ NULL, NULL, 0, 0, NULL },
};
