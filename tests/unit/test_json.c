/*
 * The JSON writer (platform/base/json.h) over the text buffer: every
 * control character escaped, commas only between items at every depth,
 * numbers as printf writes them and null for what JSON cannot say,
 * misuse and a failed buffer caught once at the end.
 */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "platform/base/json.h"

static struct nx_buf b;
static struct nx_json j;

static int
setup(void **state)
{
	(void)state;
	memset(&b, 0, sizeof b);
	nx__json_init(&j, &b);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	nx__buf_free(&b);
	return 0;
}

/* The text written, which must be complete. */
static const char *
text(void)
{
	assert_true(nx__json_done(&j));
	return b.len > 0 ? b.p : "";
}

static void
test_every_control_character_is_escaped(void **state)
{
	char in[2] = { 0 }, want[16];
	int c;

	(void)state;
	for (c = 1; c < 0x20; c++) {
		in[0] = (char)c;
		nx__buf_reset(&b);
		nx__json_init(&j, &b);
		nx__json_str(&j, in);
		snprintf(want, sizeof want, "\"\\u%04x\"", c);
		assert_string_equal(text(), want);
	}
	in[0] = 0x7f;
	nx__buf_reset(&b);
	nx__json_init(&j, &b);
	nx__json_str(&j, in);
	assert_string_equal(text(), "\"\\u007f\"");
}

static void
test_quotes_and_backslashes_are_escaped_the_rest_kept(void **state)
{
	(void)state;
	nx__json_str(&j, "a \"q\" b\\c\td\n\xc3\xa9/");
	assert_string_equal(text(), "\"a \\\"q\\\" b\\\\c\\u0009d\\u000a\xc3\xa9/\"");
}

/* JSON is UTF-8: whole sequences pass, every byte that starts none (stray,
 * cut by a limit, overlong, a surrogate, past U+10FFFF) is U+FFFD. */
static void
test_invalid_utf8_becomes_the_replacement_character(void **state)
{
	(void)state;
	nx__json_arr_open(&j);
	nx__json_str(&j, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"); /* é, €, an emoji: kept */
	nx__json_str(&j, "caf\xe9");            /* Latin-1 */
	nx__json_str(&j, "\xe2\x82");           /* a cut sequence */
	nx__json_str(&j, "\xc0\xaf");           /* overlong '/' */
	nx__json_str(&j, "\xed\xa0\x80");       /* a surrogate */
	nx__json_str(&j, "\xf4\x90\x80\x80");   /* past U+10FFFF */
	nx__json_strn(&j, "\xc3\xa9", 1);        /* cut by n */
	nx__json_arr_close(&j);
	assert_string_equal(text(), "[\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\","
				    "\"caf\\ufffd\",\"\\ufffd\\ufffd\",\"\\ufffd\\ufffd\","
				    "\"\\ufffd\\ufffd\\ufffd\",\"\\ufffd\\ufffd\\ufffd\\ufffd\","
				    "\"\\ufffd\"]");
}

static void
test_strn_stops_at_n_or_at_a_nul(void **state)
{
	(void)state;
	nx__json_arr_open(&j);
	nx__json_strn(&j, "abcdef", 3);
	nx__json_strn(&j, "ab\0cd", 5);
	nx__json_strn(&j, "\"x", 1);
	nx__json_strn(&j, "x", 0);
	nx__json_arr_close(&j);
	assert_string_equal(text(), "[\"abc\",\"ab\",\"\\\"\",\"\"]");
}

static void
test_keys_are_escaped_too(void **state)
{
	(void)state;
	nx__json_obj_open(&j);
	nx__json_kstr(&j, "k\"\x01", "v");
	nx__json_obj_close(&j);
	assert_string_equal(text(), "{\"k\\\"\\u0001\":\"v\"}");
}

static void
test_commas_only_between_items_at_every_depth(void **state)
{
	(void)state;
	nx__json_obj_open(&j);
	nx__json_key(&j, "a");
	nx__json_arr_open(&j);
	nx__json_arr_close(&j);
	nx__json_key(&j, "b");
	nx__json_obj_open(&j);
	nx__json_obj_close(&j);
	nx__json_key(&j, "c");
	nx__json_arr_open(&j);
	nx__json_uint(&j, 1);
	nx__json_arr_open(&j);
	nx__json_uint(&j, 2);
	nx__json_uint(&j, 3);
	nx__json_arr_close(&j);
	nx__json_obj_open(&j);
	nx__json_kuint(&j, "d", 4);
	nx__json_kuint(&j, "e", 5);
	nx__json_obj_close(&j);
	nx__json_arr_close(&j);
	nx__json_knull(&j, "f");
	nx__json_obj_close(&j);
	assert_string_equal(text(), "{\"a\":[],\"b\":{},\"c\":[1,[2,3],{\"d\":4,\"e\":5}],\"f\":null}");
}

static void
test_nesting_to_the_limit_and_back(void **state)
{
	char want[2 * NX_JSON_DEPTH + 1];
	unsigned i;

	(void)state;
	for (i = 0; i < NX_JSON_DEPTH; i++)
		nx__json_arr_open(&j);
	for (i = 0; i < NX_JSON_DEPTH; i++)
		nx__json_arr_close(&j);
	memset(want, '[', NX_JSON_DEPTH);
	memset(want + NX_JSON_DEPTH, ']', NX_JSON_DEPTH);
	want[2 * NX_JSON_DEPTH] = '\0';
	assert_string_equal(text(), want);
}

static void
test_numbers_booleans_and_null(void **state)
{
	(void)state;
	nx__json_obj_open(&j);
	nx__json_kint(&j, "i", -42);
	nx__json_kint(&j, "imin", INT64_MIN);
	nx__json_kint(&j, "imax", INT64_MAX);
	nx__json_kuint(&j, "u", 0);
	nx__json_kuint(&j, "umax", UINT64_MAX);
	nx__json_kdouble(&j, "d1", 12.34, 1);
	nx__json_kdouble(&j, "d3", 0.5, 3);
	nx__json_kdouble(&j, "neg", -1.5, 2);
	nx__json_kdouble(&j, "nan", NAN, 1);
	nx__json_kdouble(&j, "inf", INFINITY, 1);
	nx__json_kdouble(&j, "ninf", -INFINITY, 1);
	nx__json_kbool(&j, "t", true);
	nx__json_kbool(&j, "f", false);
	nx__json_knull(&j, "n");
	nx__json_obj_close(&j);
	assert_string_equal(text(),
			    "{\"i\":-42,\"imin\":-9223372036854775808,\"imax\":9223372036854775807,"
			    "\"u\":0,\"umax\":18446744073709551615,\"d1\":12.3,\"d3\":0.500,"
			    "\"neg\":-1.50,\"nan\":null,\"inf\":null,\"ninf\":null,\"t\":true,"
			    "\"f\":false,\"n\":null}");
}

static void
test_top_level_values_need_no_key(void **state)
{
	(void)state;
	nx__json_obj_open(&j);
	nx__json_obj_close(&j);
	nx__buf_put(&b, "\n", 1);
	nx__json_uint(&j, 7);
	assert_string_equal(text(), "{}\n7");
}

static void
test_the_writer_appends_to_what_the_buffer_holds(void **state)
{
	(void)state;
	nx__buf_printf(&b, "x=");
	nx__json_init(&j, &b);
	nx__json_arr_open(&j);
	nx__json_arr_close(&j);
	assert_string_equal(text(), "x=[]");
}

/* Each misuse fails the buffer: nothing is half-right. */
static void
test_misuse_fails_the_buffer(void **state)
{
	static const int cases = 8;
	int c;

	(void)state;
	for (c = 0; c < cases; c++) {
		nx__buf_reset(&b);
		nx__json_init(&j, &b);
		switch (c) {
		case 0: /* a key outside an object */
			nx__json_key(&j, "k");
			break;
		case 1: /* a key in an array */
			nx__json_arr_open(&j);
			nx__json_key(&j, "k");
			nx__json_arr_close(&j);
			break;
		case 2: /* a value without its key in an object */
			nx__json_obj_open(&j);
			nx__json_uint(&j, 1);
			nx__json_obj_close(&j);
			break;
		case 3: /* two keys in a row */
			nx__json_obj_open(&j);
			nx__json_key(&j, "a");
			nx__json_key(&j, "b");
			break;
		case 4: /* a close that does not match */
			nx__json_obj_open(&j);
			nx__json_arr_close(&j);
			break;
		case 5: /* a close with nothing open */
			nx__json_obj_close(&j);
			break;
		case 6: /* a key whose value never came */
			nx__json_obj_open(&j);
			nx__json_key(&j, "a");
			nx__json_obj_close(&j);
			break;
		case 7: /* nesting past the limit */
			for (unsigned i = 0; i <= NX_JSON_DEPTH; i++)
				nx__json_arr_open(&j);
			break;
		}
		assert_true(b.failed);
		assert_false(nx__json_done(&j));
	}
}

static void
test_left_open_is_not_done(void **state)
{
	(void)state;
	nx__json_obj_open(&j);
	assert_false(nx__json_done(&j));
	assert_false(b.failed);
	nx__json_obj_close(&j);
	assert_true(nx__json_done(&j));
}

/* A bounded buffer that fills: failed, too_big, and later writes are no-ops. */
static void
test_a_failed_buffer_stays_failed(void **state)
{
	size_t len;

	(void)state;
	b.max = 16;
	nx__json_obj_open(&j);
	nx__json_kstr(&j, "key", "a value longer than sixteen bytes");
	assert_true(b.failed);
	assert_true(b.too_big);
	len = b.len;
	nx__json_kuint(&j, "more", 1);
	nx__json_obj_close(&j);
	assert_int_equal(b.len, len);
	assert_false(nx__json_done(&j));
	/* reset: usable again */
	nx__buf_reset(&b);
	nx__json_init(&j, &b);
	nx__json_uint(&j, 5);
	assert_string_equal(text(), "5");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_every_control_character_is_escaped, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_quotes_and_backslashes_are_escaped_the_rest_kept,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_utf8_becomes_the_replacement_character,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_strn_stops_at_n_or_at_a_nul, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keys_are_escaped_too, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commas_only_between_items_at_every_depth, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_nesting_to_the_limit_and_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_numbers_booleans_and_null, setup, teardown),
		cmocka_unit_test_setup_teardown(test_top_level_values_need_no_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_the_writer_appends_to_what_the_buffer_holds,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_misuse_fails_the_buffer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_left_open_is_not_done, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_failed_buffer_stays_failed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
