/*
 * Live swaps on a real nxd: a storm of stage swaps, rollbacks and whole
 * pipeline swaps while two clients send without pause; plugins refused
 * for every reason; nxctl's commands and their JSON; a foreign uid kept
 * off the control socket.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nx/nx.h>
#include <nx/nx_stage.h>

#include "core/datapath/crc32c.h"
#include "harness/harness.h"
#include "shm/monitor/ctl_session.h"
#include "shm/shm_internal.h"
#include "tests/plugins/plugin_counts.h"

static char inst[64], counts_name[64], conf_path[128], plugin[512];
static struct plugin_counts *counts;
static struct nxt_nxd nxd = { .pid = -1 };

static void
write_conf(const char *path, const char *name, const char *version)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fprintf(f, "[nxd]\nmax-channels = 8\n\n[pipeline.%s]\ngraph = v\nv.stage = versioned\n"
		   "v.plugin = %s\nv.version = %s\nv.shm = %s\n", name, plugin, version, counts_name);
	fclose(f);
}

static int
setup(void **state)
{
	int fd;

	(void)state;
	nxt_instance(inst, sizeof inst, "swap");
	/* unique to this run, and none left by a run that was killed */
	snprintf(counts_name, sizeof counts_name, "/nxt-counts-%d-%s", (int)getpid(), nxt_nonce());
	shm_unlink(counts_name);
	/* in a private directory: nxd reads a configuration only from a trusted place */
	nxt_tmpfile(conf_path, sizeof conf_path, "swap.ini");
	snprintf(plugin, sizeof plugin, "%s", nxt_plugin_path("versioned"));
	fd = shm_open(counts_name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || ftruncate(fd, sizeof *counts) != 0)
		return -1;
	counts = mmap(NULL, sizeof *counts, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (counts == MAP_FAILED)
		return -1;
	memset(counts, 0, sizeof *counts);
	write_conf(conf_path, "vp", "0");
	return nxt_nxd_start(&nxd, inst, (const char *const[]){ "--config", conf_path, NULL });
}

static int
teardown(void **state)
{
	(void)state;
	if (nxd.pid > 0)
		nxt_nxd_kill(&nxd);
	nxt_cleanup(inst);
	unlink(conf_path);
	munmap(counts, sizeof *counts);
	shm_unlink(counts_name);
	nxt_reap(); /* the clients, if the test failed before they were stopped */
	return 0;
}

/* ---- the clients: continuous, every answer checked ---- */

struct tally {
	uint64_t done;
	uint64_t wrong;   /* bad CRC, or versions that do not belong together */
	uint64_t errors;  /* error completions */
	uint64_t lost;    /* submitted and never completed */
	uint64_t versions_seen;
	uint64_t slot_version[2]; /* each client's last answer's slot version */
	uint32_t stop;
	uint32_t running;
};

static void
client(const char *instance, struct tally *t, unsigned idx, uint32_t seed)
{
	struct nx_completion comps[16];
	struct { uint8_t in[64]; struct versioned_answer out; uint32_t len; } q[8];
	struct nx_client *c;
	uint64_t sent = 0, last_version = 0;
	int pipe;

	if (nxt_open(&c, instance) < 0)
		_exit(10);
	pipe = nx_pipeline_id(c, "vp");
	__atomic_fetch_add(&t->running, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE) || nx_outstanding(c) != 0) {
		while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE) && nx_outstanding(c) < 8) {
			unsigned k = sent % 8, i;
			struct nx_req r;

			q[k].len = 1 + (seed = seed * 1103515245 + 12345) % 60;
			for (i = 0; i < q[k].len; i++)
				q[k].in[i] = (uint8_t)(seed >> (i % 24));
			r = (struct nx_req){ .in = q[k].in, .in_len = q[k].len, .out = &q[k].out,
					     .out_cap = sizeof q[k].out, .user_data = sent,
					     .pipeline = (uint16_t)pipe };
			if (nx_submit(c, &r) != 0)
				break;
			sent++;
		}
		/* no answer for this long: the swaps lost a request */
		int n = nx_wait(c, comps, 16, nxt_patience_ns());

		if (n < 0) {
			t->lost += nx_outstanding(c);
			break;
		}
		for (int i = 0; i < n; i++) {
			unsigned k = comps[i].user_data % 8;
			const struct versioned_answer *a = &q[k].out;

			if (comps[i].status != 0) {
				__atomic_fetch_add(&t->errors, 1, __ATOMIC_RELAXED);
				continue;
			}
			/* one whole instance: its slot version and parameter agree */
			if (a->crc != nx__crc32c(0, q[k].in, q[k].len) ||
			    a->param_version + 1 != a->slot_version || a->magic != VERSIONED_ALIVE)
				__atomic_fetch_add(&t->wrong, 1, __ATOMIC_RELAXED);
			if (a->slot_version != last_version) {
				last_version = a->slot_version;
				__atomic_fetch_add(&t->versions_seen, 1, __ATOMIC_RELAXED);
			}
			__atomic_store_n(&t->slot_version[idx], a->slot_version, __ATOMIC_RELEASE);
			__atomic_fetch_add(&t->done, 1, __ATOMIC_RELAXED);
		}
	}
	nx_close(c);
	_exit(0);
}

/* Both clients' last answers came from the slot version want. */
static bool
both_answered_by(struct tally *t, uint64_t want)
{
	return __atomic_load_n(&t->slot_version[0], __ATOMIC_ACQUIRE) == want &&
	       __atomic_load_n(&t->slot_version[1], __ATOMIC_ACQUIRE) == want;
}

static void
test_swap_storm_under_load_loses_nothing_and_finalises_each_stage_once(void **state)
{
	struct tally *t = mmap(NULL, sizeof *t, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			       -1, 0);
	const unsigned swaps = nxt_sanitized() ? 600 : 3000;
	unsigned i, rollbacks = 0, pipes = 0, stage_swaps = 0, checkpoints = 0;
	uint64_t version = 0;
	pid_t a, b;
	char arg[64], shm_arg[96];

	(void)state;
	assert_true(t != MAP_FAILED);
	memset(t, 0, sizeof *t);
	if ((a = nxt_fork()) == 0)
		client(inst, t, 0, 1);
	if ((b = nxt_fork()) == 0)
		client(inst, t, 1, 2);
	assert_true(a > 0 && b > 0);
	/* both attached, or one of them gave up (then it has exited) */
	NXT_WAIT_UNTIL(__atomic_load_n(&t->running, __ATOMIC_ACQUIRE) >= 2 ||
		       waitpid(a, NULL, WNOHANG) != 0 || waitpid(b, NULL, WNOHANG) != 0,
		       nxt_patience_ns());
	assert_int_equal(__atomic_load_n(&t->running, __ATOMIC_ACQUIRE), 2);
	snprintf(shm_arg, sizeof shm_arg, "shm=%s", counts_name);
	for (i = 0; i < swaps; i++) {
		if (i % 50 == 49 && version > 0) {
			/* a rollback: to the previous instance; versions still agree */
			assert_int_equal(nxt_ctl(inst, NULL, false, "rollback", "vp", "v", NULL), 0);
			assert_int_equal(nxt_ctl(inst, NULL, false, "rollback", "vp", "v", NULL), 0);
			rollbacks += 2;
		} else if (i % 500 == 250) {
			/* a whole pipeline: a fresh slot numbering from version 1 */
			char path[160], name[32];

			snprintf(name, sizeof name, "swap-p%u.ini", i);
			write_conf(nxt_tmpfile(path, sizeof path, name), "vp", "0");
			assert_int_equal(nxt_ctl(inst, NULL, false, "swap-pipeline", "vp", "--config", path, NULL), 0);
			unlink(path);
			version = 0;
			pipes++;
		} else {
			version++;
			snprintf(arg, sizeof arg, "version=%llu", (unsigned long long)version);
			assert_int_equal(nxt_ctl(inst, NULL, false, "swap", "vp", "v", "versioned", "--plugin",
					     plugin, "--set", arg, "--set", shm_arg, NULL), 0);
			stage_swaps++;
			/* Now and then, both clients must be answered by the stage
			 * just installed (versioned answers slot version = its
			 * version parameter + 1): every swap is seen under load,
			 * however the CPUs happen to be shared. */
			if (stage_swaps % 25 == 0) {
				if (!NXT_WAIT_UNTIL(both_answered_by(t, version + 1), nxt_patience_ns())) {
					__atomic_store_n(&t->stop, 1, __ATOMIC_RELEASE);
					fail_msg("swap %u (version %llu): the clients' last answers came from "
						 "slot versions %llu and %llu, not %llu (%llu lost, %llu errors)",
						 stage_swaps, (unsigned long long)version,
						 (unsigned long long)t->slot_version[0],
						 (unsigned long long)t->slot_version[1],
						 (unsigned long long)version + 1,
						 (unsigned long long)t->lost, (unsigned long long)t->errors);
				}
				checkpoints++;
			}
		}
	}
	__atomic_store_n(&t->stop, 1, __ATOMIC_RELEASE);
	assert_int_equal(nxt_wait(a, nxt_patience_ns()), 0);
	assert_int_equal(nxt_wait(b, nxt_patience_ns()), 0);
	print_message("%u stage swaps, %u rollbacks, %u pipeline swaps under load: %llu answers, "
		      "%llu versions seen, %u checkpoints met, %llu wrong, %llu errors, %llu lost\n",
		      stage_swaps, rollbacks, pipes, (unsigned long long)t->done,
		      (unsigned long long)t->versions_seen, checkpoints, (unsigned long long)t->wrong,
		      (unsigned long long)t->errors, (unsigned long long)t->lost);
	/* every checkpoint was met: each client saw every 25th swap (and so
	 * answers from at least that many versions) */
	assert_int_equal(checkpoints, stage_swaps / 25);
	assert_true(checkpoints > 0);
	assert_true(t->versions_seen >= 2 * checkpoints);
	assert_int_equal(t->wrong, 0);
	assert_int_equal(t->errors, 0);
	assert_int_equal(t->lost, 0);

	/* every instance ever made is finalised exactly once, and none was used after */
	assert_int_equal(nxt_nxd_stop(&nxd), 0);
	print_message("inits %llu, finis %llu, double finis %llu, uses after fini %llu\n",
		      (unsigned long long)counts->inits, (unsigned long long)counts->finis,
		      (unsigned long long)counts->double_finis,
		      (unsigned long long)counts->use_after_fini);
	assert_int_equal(counts->inits, 1 + stage_swaps + pipes);
	assert_int_equal(counts->finis, counts->inits);
	assert_int_equal(counts->double_finis, 0);
	assert_int_equal(counts->use_after_fini, 0);
	munmap(t, sizeof *t);
}

/* ---- refusals ---- */

#define NXT_WRONG_ABI 101 /* tests/plugins/wrongabi.c: NX_STAGE_ABI + 98 */
_Static_assert(NXT_WRONG_ABI == NX_STAGE_ABI + 98, "wrongabi's ABI");
#define NXT_STR2(x) #x
#define NXT_STR(x) NXT_STR2(x)

static uint64_t
slot_version(void)
{
	struct nx_health_view hv;
	uint64_t v = 0;
	uint32_t i;

	if (nx__health_map_ro(&hv, inst) != 0)
		return 0;
	for (i = 0; i < hv.max_slots; i++)
		if (nx__load32(&hv.slots[i].state) && strcmp(hv.slots[i].pipe, "vp") == 0)
			v = nx__load64(&hv.slots[i].version);
	nx__health_unmap(&hv);
	return v;
}

static void
test_bad_plugins_and_stages_are_refused_and_change_nothing(void **state)
{
	static const struct {
		const char *plugin; /* NULL: the good one */
		const char *stage;
		const char *says;
	} bad[] = {
		{ "nosymbol", "x", "is not a nexus plugin" },
		{ "notplugin", "x", "nothing of it was run" }, /* its constructor exits */
		{ "marknosym", "x", "exports no 'nx_plugin' symbol" },
		{ "wrongabi", "old", "built for stage ABI " NXT_STR(NXT_WRONG_ABI) },
		{ NULL, "failinit", "init failed" },
		{ NULL, "nosuch", "has no stage 'nosuch'" },
		{ "/nonexistent/plugin", "x", "/nonexistent/plugin" },
	};
	char *text;
	unsigned i;
	uint64_t before = slot_version();

	(void)state;
	assert_int_equal(before, 1);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *path = bad[i].plugin == NULL ? plugin :
				   bad[i].plugin[0] == '/' ? bad[i].plugin : nxt_plugin_path(bad[i].plugin);
		int st = nxt_ctl(inst, &text, false, "swap", "vp", "v", bad[i].stage, "--plugin", path, NULL);

		assert_true(st < 0);
		if (strstr(text, bad[i].says) == NULL || strstr(text, "nothing changed") == NULL)
			fail_msg("%s/%s: '%s' lacks '%s'", path, bad[i].stage, text, bad[i].says);
		free(text);
	}
	/* a probe that the new stage fails */
	assert_true(nxt_ctl(inst, &text, false, "swap", "vp", "v", "fail", "--set", "percent=100", "--probe",
			"x", NULL) < 0);
	assert_non_null(strstr(text, "probe"));
	free(text);
	assert_true(nxt_ctl(inst, &text, false, "swap", "nope", "v", "echo", NULL) == NX_ENOENT);
	assert_non_null(strstr(text, "no pipeline 'nope'"));
	free(text);
	assert_true(nxt_ctl(inst, &text, false, "rollback", "vp", "v", NULL) == NX_ENOENT);
	assert_non_null(strstr(text, "no previous version"));
	free(text);
	assert_int_equal(slot_version(), before);
	/* and the pipeline still answers */
	{
		struct nx_client *c;
		struct versioned_answer a;
		uint32_t len;

		assert_int_equal(nxt_open(&c, inst), 0);
		assert_int_equal(nx_call(c, (uint16_t)nx_pipeline_id(c, "vp"), "ok", 2, &a, sizeof a,
					 &len, nxt_patience_ns()), 0);
		assert_int_equal(a.slot_version, 1);
		nx_close(c);
	}
}

static void
test_nxctl_lists_swaps_rolls_back_in_text_and_json(void **state)
{
	char *text, cmd[1024], line[4096];
	FILE *p;

	(void)state;
	assert_int_equal(nxt_ctl(inst, &text, true, "list", NULL), 0);
	assert_non_null(strstr(text, "\"name\":\"vp\""));
	assert_non_null(strstr(text, "\"stage\":\"versioned\""));
	assert_non_null(strstr(text, "\"version\":1"));
	free(text);
	/* the tool itself, as an operator runs it */
	snprintf(cmd, sizeof cmd, "%s --instance %s swap vp v echo 2>&1", nxt_bin("nxctl"), inst);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(line, sizeof line, p));
	assert_int_equal(pclose(p), 0);
	assert_non_null(strstr(line, "vp/v: echo version 2 is live (was versioned version 1)"));
	snprintf(cmd, sizeof cmd, "%s --instance %s --json list 2>&1", nxt_bin("nxctl"), inst);
	p = popen(cmd, "r");
	assert_non_null(fgets(line, sizeof line, p));
	assert_int_equal(pclose(p), 0);
	assert_non_null(strstr(line, "\"slot\":\"v\",\"stage\":\"echo\""));
	assert_non_null(strstr(line, "\"swaps\":1"));
	snprintf(cmd, sizeof cmd, "%s --instance %s --json rollback vp v 2>&1", nxt_bin("nxctl"), inst);
	p = popen(cmd, "r");
	assert_non_null(fgets(line, sizeof line, p));
	assert_int_equal(pclose(p), 0);
	assert_non_null(strstr(line, "\"version\":1"));
	assert_int_equal(slot_version(), 1);
	snprintf(cmd, sizeof cmd, "%s --instance %s --json swap vp v nosuch 2>&1", nxt_bin("nxctl"),
		 inst);
	p = popen(cmd, "r");
	assert_non_null(fgets(line, sizeof line, p));
	assert_int_equal(WEXITSTATUS(pclose(p)), 1);
	assert_non_null(strstr(line, "\"error\":\"ENOENT\""));
	snprintf(cmd, sizeof cmd, "%s --instance %s placement 2>&1", nxt_bin("nxctl"), inst);
	p = popen(cmd, "r");
	assert_non_null(fgets(line, sizeof line, p));
	assert_int_equal(pclose(p), 0);
	assert_non_null(strstr(line, "placement:"));
	/* the README's example plugin */
	{
		char bindir[512];

		snprintf(bindir, sizeof bindir, "%s", nxt_bin(""));
		snprintf(cmd, sizeof cmd, "%s --instance %s swap vp v upper --plugin "
			 "%s/../lib/nx-upper.so --set prefix='> ' --probe hello 2>&1",
			 nxt_bin("nxctl"), inst, bindir);
	}
	p = popen(cmd, "r");
	assert_non_null(fgets(line, sizeof line, p));
	if (pclose(p) != 0)
		fail_msg("%s: %s", cmd, line);
	{
		struct nx_client *c;
		char out[64];
		uint32_t len;

		assert_int_equal(nxt_open(&c, inst), 0);
		assert_int_equal(nx_call(c, (uint16_t)nx_pipeline_id(c, "vp"), "shout", 5, out,
					 sizeof out, &len, nxt_patience_ns()), 0);
		assert_int_equal(len, 7);
		assert_memory_equal(out, "> SHOUT", 7);
		nx_close(c);
	}
	snprintf(cmd, sizeof cmd, "%s --instance nxt-no-such-instance list 2>&1", nxt_bin("nxctl"));
	p = popen(cmd, "r");
	assert_non_null(fgets(line, sizeof line, p));
	assert_int_equal(WEXITSTATUS(pclose(p)), 3);
	assert_non_null(strstr(line, "is not running"));
}

static void
test_control_socket_refuses_a_foreign_uid(void **state)
{
	int sync[2];
	pid_t pid;
	char msg[512] = { 0 };

	(void)state;
	if (getuid() != 0) {
		print_message("skipped: needs root to become another uid\n");
		return;
	}
	assert_int_equal(pipe(sync), 0);
	pid = nxt_fork();
	if (pid == 0) {
		char *argv[] = { "list" }, *text = NULL;
		struct nx_client *c;
		size_t len;
		int status, rc;

		close(sync[0]);
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(20);
		rc = nx__ctl_command(inst, 1, argv, false, nxt_patience_ns(), &text, &len, &status);
		if (write(sync[1], nx__errmsg(), strlen(nx__errmsg())) < 0)
			_exit(21);
		if (rc != NX_EPERM)
			_exit(22);
		if (nxt_open(&c, inst) != NX_EPERM)
			_exit(23);
		_exit(0);
	}
	close(sync[1]);
	assert_true(read(sync[0], msg, sizeof msg - 1) > 0);
	close(sync[0]);
	assert_int_equal(nxt_wait(pid, nxt_patience_ns()), 0);
	assert_non_null(strstr(msg, "uid 65534 may not attach"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_swap_storm_under_load_loses_nothing_and_finalises_each_stage_once, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_bad_plugins_and_stages_are_refused_and_change_nothing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_nxctl_lists_swaps_rolls_back_in_text_and_json,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_control_socket_refuses_a_foreign_uid, setup,
						teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("swap", tests, NULL, NULL);
}
