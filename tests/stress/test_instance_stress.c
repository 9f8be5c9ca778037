/*
 * A whole instance in one process (so TSan sees every thread): the
 * control thread, a pinned worker, and client threads that attach, send,
 * check and detach over and over while another sends without pause. Every
 * attach and detach publishes a new channel set through RCU and frees the
 * old one after a grace period while the worker polls.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <nx/nx.h>

#include "core/datapath/crc32c.h"
#include "core/nxd.h"
#include "tests/patience.h"

struct ctl {
	struct nx_instance *inst;
	int rc;
};

static void *
control(void *arg)
{
	struct ctl *c = arg;

	c->rc = nx__instance_run(c->inst, false);
	return NULL;
}

struct cl {
	const char *inst;
	int rounds;
	int per_round;
	int failures;
	uint64_t ok;
	uint64_t full;     /* attaches that found every channel taken, then waited */
	uint32_t seed;
};

/*
 * Attach. A closed channel's entry is free again only after a grace
 * period, so with the other clients' churn every entry may be taken or
 * still being released for a moment: NX_ENOSPC then says wait, and we wait
 * for that (bounded), not fail.
 */
static int
open_when_free(struct cl *cl, struct nx_client **c)
{
	const uint64_t t0 = nx_now_ns();
	int rc;

	while ((rc = nx_open(c, cl->inst, NULL)) == NX_ENOSPC && nx_now_ns() - t0 < patience_ns()) {
		cl->full++;
		usleep(1000);
	}
	return rc;
}

static void *
churn(void *arg)
{
	struct cl *cl = arg;
	int r, i;

	for (r = 0; r < cl->rounds; r++) {
		struct nx_client *c;
		int sum;

		if (open_when_free(cl, &c) < 0) {
			fprintf(stderr, "open: %s\n", nx_errmsg());
			cl->failures++;
			continue;
		}
		sum = nx_pipeline_id(c, "checksum");
		for (i = 0; i < cl->per_round; i++) {
			uint8_t in[100], out[4];
			uint32_t len, crc, k;

			for (k = 0; k < sizeof in; k++)
				in[k] = (uint8_t)(cl->seed += 0x9e3779b9u);
			if (nx_call(c, (uint16_t)sum, in, (uint32_t)(cl->seed % sizeof in), out, 4, &len,
				    patience_ns()) != 0) {
				cl->failures++;
				continue;
			}
			crc = nx__crc32c(0, in, cl->seed % sizeof in);
			if (memcmp(out, &crc, 4) != 0)
				cl->failures++;
			else
				cl->ok++;
		}
		nx_close(c);
	}
	return NULL;
}

/* Every channel entry free again: each closed channel released. */
static bool
all_channels_free(const char *inst)
{
	struct nx_health_view hv;
	uint32_t i, used = 0;

	if (nx__health_map_ro(&hv, inst) != 0)
		return false;
	for (i = 0; i < hv.max_channels; i++)
		used += nx__load32(&hv.chans[i].state) != NX_CHAN_FREE;
	nx__health_unmap(&hv);
	return used == 0;
}

static void
remove_segments(const char *inst)
{
	char path[128];

	snprintf(path, sizeof path, "/dev/shm/nx.%s.health", inst);
	unlink(path);
	snprintf(path, sizeof path, "/dev/shm/nx.%s.dlq", inst);
	unlink(path);
}

static void
test_attach_detach_churn_while_serving(void **state)
{
	struct nx_instance_conf conf;
	struct ctl ctl = { 0 };
	struct cl a = { .rounds = 30, .per_round = 300, .seed = 1 };
	struct cl b = { .rounds = 30, .per_round = 300, .seed = 2 };
	struct cl steady = { .rounds = 1, .per_round = 20000, .seed = 3 };
	pthread_t tc, ta, tb, ts;
	uint32_t nonce;
	uint64_t t0;
	bool freed;

	(void)state;
	/* unique to this run (pids are reused), and nothing left by a killed one */
	if (getrandom(&nonce, sizeof nonce, 0) != (ssize_t)sizeof nonce)
		nonce = (uint32_t)nx_now_ns();
	nx__instance_conf_default(&conf);
	snprintf(conf.instance, sizeof conf.instance, "nxt-stress-%d-%08x", (int)getpid(), nonce);
	remove_segments(conf.instance);
	conf.workers = 1;
	conf.max_channels = 8;
	conf.quiet = true;
	assert_int_equal(nx__instance_create(&ctl.inst, &conf), 0);
	a.inst = b.inst = steady.inst = conf.instance;
	assert_int_equal(pthread_create(&tc, NULL, control, &ctl), 0);
	assert_int_equal(pthread_create(&ts, NULL, churn, &steady), 0);
	assert_int_equal(pthread_create(&ta, NULL, churn, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, churn, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	pthread_join(ts, NULL);
	/* every channel closed is released, after its grace period */
	t0 = nx_now_ns();
	while (!(freed = all_channels_free(conf.instance)) && nx_now_ns() - t0 < patience_ns())
		usleep(1000);
	nx__instance_stop(ctl.inst);
	pthread_join(tc, NULL);
	nx__instance_destroy(ctl.inst);
	remove_segments(conf.instance);
	print_message("attaches that waited for a free channel: %llu\n",
		      (unsigned long long)(a.full + b.full + steady.full));
	assert_int_equal(ctl.rc, 0);
	assert_true(freed);
	assert_int_equal(a.failures + b.failures + steady.failures, 0);
	assert_int_equal(a.ok, 30 * 300);
	assert_int_equal(b.ok, 30 * 300);
	assert_int_equal(steady.ok, 20000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attach_detach_churn_while_serving),
	};

	return cmocka_run_group_tests_name("instance_stress", tests, NULL, NULL);
}
