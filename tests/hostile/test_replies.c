/*
 * nxctl answers larger than the control socket's buffer, on a real nxd:
 * delivered whole while the socket drains, or refused whole past the
 * bound; a reader that takes nothing holds no one else up and is dropped;
 * several large answers at once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nx/nx.h>

#include "shm/shm_internal.h"
#include "tests/integration/harness/harness.h"

#define LETTERS 1024   /* dead letters: about 1 MB of export */
#define PAYLOAD 500    /* bytes each (in the arena: 1000 hex digits a line) */

static char inst[64];
static struct nxt_nxd nxd = { .pid = -1 };

static int
start(const char *reply_max)
{
	char conf[256];
	const char *argv[] = { "--config", conf, "--idle", "sleep", "--dlq-entries", "1024",
			       "--reply-max", reply_max, NULL };
	FILE *f;

	nxt_instance(inst, sizeof inst, "reply");
	nxt_tmpfile(conf, sizeof conf, "reply.ini");
	f = fopen(conf, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "[pipeline.bad]\ngraph = f\nf.stage = fail\n");
	fclose(f);
	return nxt_nxd_start(&nxd, inst, argv);
}

/* LETTERS failing requests: each becomes a dead letter of PAYLOAD bytes. */
static void
fill(void)
{
	struct nx_client *c;
	uint8_t in[PAYLOAD], out[16];
	uint32_t len, i;
	int pipe;

	assert_int_equal(nxt_open(&c, inst), 0);
	pipe = nx_pipeline_id(c, "bad");
	assert_true(pipe >= 0);
	for (i = 0; i < LETTERS; i++) {
		memset(in, 'a' + (int)(i % 26), sizeof in);
		memcpy(in, &i, sizeof i);
		assert_int_equal(nx_call(c, (uint16_t)pipe, in, sizeof in, out, sizeof out, &len,
					 nxt_patience_ns()), NX_ESTAGE);
	}
	nx_close(c);
}

static int
setup(void **state)
{
	(void)state;
	if (start("16m") != 0)
		return -1;
	fill();
	return 0;
}

static int
teardown(void **state)
{
	if (nxd.pid > 0)
		nxt_nxd_kill(&nxd);
	nxd.pid = -1;
	return nxt_teardown(state);
}

/* Every line of an export: "ID bad 0 HEX", each payload as fill wrote it. */
static void
check_export(const char *text)
{
	const char *p = text;
	unsigned lines = 0;
	bool seen[LETTERS] = { false };

	while (*p != '\0') {
		const char *nl = strchr(p, '\n'), *hex;
		uint8_t b[PAYLOAD];
		uint32_t i, k;

		assert_non_null(nl);
		hex = strstr(p, " bad 0 ");
		assert_true(hex != NULL && hex < nl);
		hex += 7;
		assert_int_equal(nl - hex, 2 * PAYLOAD);
		for (k = 0; k < PAYLOAD; k++)
			assert_int_equal(sscanf(hex + 2 * k, "%2hhx", &b[k]), 1);
		memcpy(&i, b, sizeof i);
		assert_true(i < LETTERS && !seen[i]);
		seen[i] = true;
		assert_int_equal(b[PAYLOAD - 1], 'a' + (int)(i % 26));
		lines++;
		p = nl + 1;
	}
	assert_int_equal(lines, LETTERS);
}

static void
test_an_answer_past_the_socket_buffer_arrives_whole(void **state)
{
	char *text;

	(void)state;
	assert_int_equal(nxt_ctl(inst, &text, 0, "dlq", "export", NULL), 0);
	print_message("dlq export: %zu bytes in one answer\n", strlen(text));
	check_export(text);
	free(text);
	assert_int_equal(nxt_ctl(inst, &text, 1, "dlq", "list", NULL), 0);
	assert_non_null(strstr(text, "\"held\":1024"));
	print_message("dlq list --json: %zu bytes\n", strlen(text));
	free(text);
	assert_int_equal(nxt_ctl(inst, &text, 0, "dlq", "list", NULL), 0);
	assert_non_null(strstr(text, "1024 held"));
	free(text);
}

static void
test_an_answer_past_the_bound_is_refused_whole(void **state)
{
	char *text;

	(void)state;
	nxt_nxd_kill(&nxd);
	assert_int_equal(start("64k"), 0);
	fill();
	assert_int_equal(nxt_ctl(inst, &text, 0, "dlq", "export", NULL), NX_E2BIG);
	assert_non_null(strstr(text, "reply_max"));
	assert_null(strstr(text, " bad 0 ")); /* not a line of the answer: nothing cut short */
	free(text);
	/* asking for less works, and so does everything else */
	assert_int_equal(nxt_ctl(inst, &text, 0, "dlq", "export", "0.5", "0.7", NULL), 0);
	assert_non_null(strstr(text, "0.5 bad 0 "));
	assert_non_null(strstr(text, "0.7 bad 0 "));
	free(text);
	assert_int_equal(nxt_ctl(inst, NULL, 0, "list", NULL), 0);
}

static void
test_a_reader_that_takes_nothing_holds_no_one_up(void **state)
{
	struct nx_ctl_cmd *c = calloc(1, sizeof *c);
	unsigned stalled = 0, i;
	int fds[4];

	(void)state;
	assert_non_null(c);
	/* four connections ask for the export and never read a byte */
	c->hdr.type = NX_CTL_COMMAND;
	c->hdr.abi_version = NX_CTL_VERSION;
	memcpy(c->args, "dlq\0export", 11);
	c->argc = 2;
	c->len = 11;
	for (i = 0; i < 4; i++) {
		fds[i] = nx__ctl_connect(inst);
		assert_true(fds[i] >= 0);
		assert_int_equal(nx__ctl_send(fds[i], c, offsetof(struct nx_ctl_cmd, args) + c->len,
					     -1), 0);
	}
	free(c);
	/* meanwhile everyone else is answered: not held until the silent
	 * readers are dropped. Only time tells the two apart, so a machine
	 * that took the drop's 5 s for one command and one open is not judged */
	for (i = 0; i < 20; i++) {
		struct nx_client *cl;

		assert_int_equal(nxt_ctl(inst, NULL, 0, "list", NULL), 0);
		assert_int_equal(nxt_open(&cl, inst), 0);
		nx_close(cl);
		if (i == 0 && nxt_file_says(nxd.log, "read none of its answer for 5 s: dropped")) {
			print_message("the first command came back after the drop: not judged\n");
			for (i = 0; i < 4; i++)
				close(fds[i]);
			skip();
		}
	}
	/* and the silent readers are dropped (5 s without progress) */
	assert_true(NXT_WAIT_UNTIL(
		nxt_file_says(nxd.log, "read none of its answer for 5 s: dropped"), nxt_patience_ns()));
	for (i = 0; i < 4; i++) {
		struct nx_ctl_reply *r = malloc(sizeof *r);
		int n;

		/* what was queued before the drop reads out, then the close */
		while ((n = nx__ctl_recv(fds[i], r, sizeof *r, NULL, nxt_patience_ns())) > 0)
			;
		if (n == NX_ECLOSED)
			stalled++;
		free(r);
		close(fds[i]);
	}
	assert_int_equal(stalled, 4);
	assert_int_equal(nxt_ctl(inst, NULL, 0, "list", NULL), 0);
	print_message("4 readers that read nothing were dropped; 20 lists and attaches answered "
		      "meanwhile\n");
}

static void
test_many_large_answers_at_once_each_arrive_whole(void **state)
{
	pid_t kids[8];
	unsigned i;

	(void)state;
	for (i = 0; i < 8; i++) {
		kids[i] = nxt_fork();
		if (kids[i] == 0) {
			char *text;
			int st = nxt_ctl(inst, &text, 0, "dlq", "export", NULL);
			size_t n = 0;

			if (st != 0)
				_exit(10);
			for (const char *p = text; *p != '\0'; p++)
				n += *p == '\n';
			_exit(n == LETTERS ? 0 : 11);
		}
	}
	for (i = 0; i < 8; i++)
		assert_int_equal(nxt_wait(kids[i], nxt_patience_ns()), 0);
	print_message("8 exports of %u lines at once: each whole\n", LETTERS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_an_answer_past_the_socket_buffer_arrives_whole,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_an_answer_past_the_bound_is_refused_whole, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_a_reader_that_takes_nothing_holds_no_one_up, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_many_large_answers_at_once_each_arrive_whole,
						setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("hostile replies", tests, NULL, NULL);
}
