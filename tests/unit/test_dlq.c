/*
 * The dead-letter rings as nxd reads them back: every field of an entry
 * is bounded before use, whoever wrote the segment (it outlives nxd, and
 * any process of nxd's uid can write it). nxctl's dlq commands on
 * damaged entries: no read past an entry, no line made up by a name.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/control/cmd.h"
#include "core/control/instance.h"

static char name[64];
static struct nx_instance *inst;
static uint64_t written, dropped;

static int
setup(void **state)
{
	(void)state;
	snprintf(name, sizeof name, "nxt-dlq-%d-%08x", (int)getpid(), (unsigned)nx__random_seed());
	inst = calloc(1, sizeof *inst);
	if (inst == NULL || nx__dlq_open(&inst->dlq, name, 2, 8) != 0)
		return -1;
	written = dropped = 0;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	nx__dlq_close(&inst->dlq, name, true);
	free(inst);
	return 0;
}

static void
put(uint32_t ring, const char *pipeline, const char *payload, uint32_t len)
{
	char pipe[NX_PIPE_NAME_MAX] = { 0 };

	snprintf(pipe, sizeof pipe, "%s", pipeline);
	nx__dlq_put(nx__dlq_ring(&inst->dlq, ring), inst->dlq.entries, NX_ESTAGE, 1, 1, 42, 3, 0,
		    0xffff, pipe, payload, len, &written, &dropped);
}

static int
command(char **out, ...)
{
	char *argv[8];
	struct nx_buf b = { 0 };
	va_list ap;
	int argc = 0, rc;

	va_start(ap, out);
	while (argc < 8 && (argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	rc = nx__cmd_run(inst, argc, argv, false, &b);
	nx__buf_printf(&b, "%s", ""); /* NUL-terminated even when empty */
	*out = b.p;
	return rc;
}

/* The entry n of ring r, as a worker wrote it, to damage. */
static struct nx_dlq_entry *
entry(uint32_t r, uint64_t n)
{
	return nx__dlq_entry(nx__dlq_ring(&inst->dlq, r), inst->dlq.entries, n);
}

static void
test_well_formed_entries_are_read_back(void **state)
{
	struct nx_dlq_entry e;
	char *out;

	(void)state;
	put(0, "echo", "abc", 3);
	put(1, "echo", "xyz", 3);
	assert_int_equal(nx__dlq_read(nx__dlq_ring(&inst->dlq, 0), 8, 0, &e), NX_DLQ_OK);
	assert_int_equal(e.len, 3);
	assert_int_equal(command(&out, "dlq", "export", NULL), 0);
	assert_string_equal(out, "0.0 echo 0 616263\n1.0 echo 0 78797a\n");
	free(out);
}

static void
test_a_length_past_the_payload_is_never_trusted(void **state)
{
	char *out;

	(void)state;
	put(0, "echo", "abc", 3);
	put(0, "echo", "def", 3);
	/* as a forged or damaged entry says: 4 GiB, and not truncated */
	entry(0, 0)->len = 0xffffffffu;
	assert_int_equal(command(&out, "dlq", "export", NULL), 0);
	assert_string_equal(out, "0.1 echo 0 646566\n"); /* the damaged one is left out */
	free(out);
	assert_int_equal(command(&out, "dlq", "show", "0.0", NULL), NX_EPROTO);
	free(out);
	assert_non_null(strstr(nx__errmsg(), "damaged"));
	assert_int_equal(command(&out, "dlq", "list", NULL), 0);
	assert_non_null(strstr(out, "1 entries are damaged"));
	assert_non_null(strstr(out, "1 held"));
	free(out);
	/* truncated, as flagged: 512 bytes shown, whatever the length says */
	entry(0, 0)->flags = NX_DLQ_F_TRUNCATED;
	assert_int_equal(command(&out, "dlq", "show", "0.0", NULL), 0);
	assert_non_null(strstr(out, "first 512 shown"));
	free(out);
}

static void
test_a_name_cannot_make_up_lines_of_the_export(void **state)
{
	char *out;

	(void)state;
	put(0, "echo", "abc", 3);
	put(0, "echo", "def", 3);
	put(0, "echo", "ghi", 3);
	/* a pipeline "name" that would be a replay line of its own */
	memcpy(entry(0, 0)->pipeline, "x 0 41\n0.9 echo 1 4141", 23);
	memset(entry(0, 1)->pipeline, 'a', NX_PIPE_NAME_MAX); /* no NUL */
	entry(0, 2)->flags = 0x80; /* a flag no worker writes */
	assert_int_equal(command(&out, "dlq", "export", NULL), 0);
	assert_string_equal(out, "");
	free(out);
	assert_int_equal(command(&out, "dlq", "list", NULL), 0);
	assert_non_null(strstr(out, "3 entries are damaged"));
	free(out);
}

static void
test_an_entry_left_half_written_is_not_waited_for(void **state)
{
	char *out;

	(void)state;
	put(0, "echo", "abc", 3);
	put(0, "echo", "def", 3);
	entry(0, 0)->seq = 7; /* odd: a worker died writing it */
	assert_int_equal(command(&out, "dlq", "export", NULL), 0);
	assert_string_equal(out, "0.1 echo 0 646566\n");
	free(out);
	assert_int_equal(command(&out, "dlq", "show", "0.0", NULL), NX_EPROTO);
	free(out);
	/* the next nxd re-attaching the segment closes it: read and checked */
	nx__dlq_close(&inst->dlq, name, false);
	assert_int_equal(nx__dlq_open(&inst->dlq, name, 2, 8), 0);
	assert_true(inst->dlq.reattached);
	assert_int_equal(entry(0, 0)->seq, 8);
	assert_int_equal(command(&out, "dlq", "export", NULL), 0);
	assert_string_equal(out, "0.0 echo 0 616263\n0.1 echo 0 646566\n");
	free(out);
}

static void
test_ids_are_only_digits_dot_digits(void **state)
{
	static const char *const bad[] = { "", ".", "0.", ".1", " 0.1", "-1.0", "0.-1", "+0.1",
					   "0.1x", "2.0", "0.99999999999999999999999", "0x1.0" };
	char *out;
	unsigned i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (command(&out, "dlq", "show", bad[i], NULL) != NX_EINVAL)
			fail_msg("id '%s' was taken: %s", bad[i], nx__errmsg());
		free(out);
	}
	assert_int_equal(command(&out, "dlq", "drain", "1.7", NULL), NX_ENOENT);
	free(out);
}

static void
test_the_layout_is_nxds_own_not_the_headers(void **state)
{
	struct nx_dlq_hdr *h = (struct nx_dlq_hdr *)(void *)inst->dlq.base;
	char *out;

	(void)state;
	put(1, "echo", "abc", 3);
	/* the header rewritten under nxd: its rings stay where nxd put them */
	h->rings_off = 0x7fffffff;
	h->ring_bytes = 0x7fffffff;
	assert_int_equal(command(&out, "dlq", "export", NULL), 0);
	assert_string_equal(out, "1.0 echo 0 616263\n");
	free(out);
}

static void
test_an_entry_keeps_nothing_of_the_one_before_it(void **state)
{
	static char big[NX_DLQ_PAYLOAD + 40];
	static const uint32_t lens[] = { NX_DLQ_PAYLOAD + 40, 13, 0, 8, 200, 1 };
	struct nx_dlq_entry e;
	uint32_t k, i, n = 0;

	(void)state;
	memset(big, 'A', sizeof big);
	/* each length into every slot of a ring of 8, after a longer one */
	for (k = 0; k < sizeof lens / sizeof lens[0]; k++)
		for (i = 0; i < 8; i++, n++) {
			uint32_t keep = lens[k] < NX_DLQ_PAYLOAD ? lens[k] : NX_DLQ_PAYLOAD, j;

			memset(big, 'a' + (int)k, keep);
			put(0, "echo", big, lens[k]);
			assert_int_equal(nx__dlq_read(nx__dlq_ring(&inst->dlq, 0), 8, n, &e), NX_DLQ_OK);
			assert_int_equal(e.len, lens[k]);
			for (j = 0; j < keep; j++)
				assert_int_equal(e.payload[j], 'a' + (int)k);
			for (; j < NX_DLQ_PAYLOAD; j++)
				assert_int_equal(e.payload[j], 0);
		}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_well_formed_entries_are_read_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_length_past_the_payload_is_never_trusted, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_a_name_cannot_make_up_lines_of_the_export, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_an_entry_left_half_written_is_not_waited_for, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ids_are_only_digits_dot_digits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_the_layout_is_nxds_own_not_the_headers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_an_entry_keeps_nothing_of_the_one_before_it, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("dlq", tests, NULL, NULL);
}
