/* The one JSON writer (json.h). */
#include <inttypes.h>
#include <math.h>

#include "platform/base/json.h"

void
nx__json_init(struct nx_json *j, struct nx_buf *b)
{
	j->b = b;
	j->depth = 0;
	j->is_obj = 0;
	j->has_item = 0;
	j->want_value = false;
}

bool
nx__json_done(const struct nx_json *j)
{
	return j->depth == 0 && !j->want_value && !j->b->failed;
}

static void
fail(struct nx_json *j)
{
	j->b->failed = true;
}

static bool
in_obj(const struct nx_json *j)
{
	return j->depth > 0 && (j->is_obj >> (j->depth - 1) & 1) != 0;
}

/* Before a value: the comma, or the key it follows; false on misuse. */
static bool
value_begin(struct nx_json *j)
{
	uint32_t bit;

	if (j->b->failed)
		return false;
	if (j->depth == 0)
		return true;
	bit = UINT32_C(1) << (j->depth - 1);
	if (j->want_value) {
		j->want_value = false;
		return true;
	}
	if (j->is_obj & bit) {
		fail(j); /* a value in an object needs its key first */
		return false;
	}
	if (j->has_item & bit)
		nx__buf_put(j->b, ",", 1);
	j->has_item |= bit;
	return true;
}

static void
container_open(struct nx_json *j, bool obj)
{
	uint32_t bit;

	if (!value_begin(j))
		return;
	if (j->depth == NX_JSON_DEPTH) {
		fail(j);
		return;
	}
	bit = UINT32_C(1) << j->depth++;
	j->has_item &= ~bit;
	if (obj)
		j->is_obj |= bit;
	else
		j->is_obj &= ~bit;
	nx__buf_put(j->b, obj ? "{" : "[", 1);
}

static void
container_close(struct nx_json *j, bool obj)
{
	if (j->b->failed)
		return;
	if (j->depth == 0 || in_obj(j) != obj || j->want_value) {
		fail(j);
		return;
	}
	j->depth--;
	nx__buf_put(j->b, obj ? "}" : "]", 1);
}

void
nx__json_obj_open(struct nx_json *j)
{
	container_open(j, true);
}

void
nx__json_obj_close(struct nx_json *j)
{
	container_close(j, true);
}

void
nx__json_arr_open(struct nx_json *j)
{
	container_open(j, false);
}

void
nx__json_arr_close(struct nx_json *j)
{
	container_close(j, false);
}

void
nx__json_key(struct nx_json *j, const char *key)
{
	uint32_t bit;

	if (j->b->failed)
		return;
	if (!in_obj(j) || j->want_value) {
		fail(j);
		return;
	}
	bit = UINT32_C(1) << (j->depth - 1);
	if (j->has_item & bit)
		nx__buf_put(j->b, ",", 1);
	j->has_item |= bit;
	nx__buf_json_str(j->b, key);
	nx__buf_put(j->b, ":", 1);
	j->want_value = true;
}

void
nx__json_str(struct nx_json *j, const char *s)
{
	if (value_begin(j))
		nx__buf_json_str(j->b, s);
}

void
nx__json_strn(struct nx_json *j, const char *s, size_t n)
{
	if (value_begin(j))
		nx__buf_json_strn(j->b, s, n);
}

void
nx__json_int(struct nx_json *j, int64_t v)
{
	if (value_begin(j))
		nx__buf_printf(j->b, "%" PRId64, v);
}

void
nx__json_uint(struct nx_json *j, uint64_t v)
{
	if (value_begin(j))
		nx__buf_printf(j->b, "%" PRIu64, v);
}

void
nx__json_double(struct nx_json *j, double v, int decimals)
{
	if (!value_begin(j))
		return;
	/* JSON has no NaN or infinity: "nan" would make the whole text unreadable */
	if (isfinite(v))
		nx__buf_printf(j->b, "%.*f", decimals, v);
	else
		nx__buf_put(j->b, "null", 4);
}

void
nx__json_bool(struct nx_json *j, bool v)
{
	if (value_begin(j))
		nx__buf_put(j->b, v ? "true" : "false", v ? 4 : 5);
}

void
nx__json_null(struct nx_json *j)
{
	if (value_begin(j))
		nx__buf_put(j->b, "null", 4);
}

void
nx__json_kstr(struct nx_json *j, const char *key, const char *s)
{
	nx__json_key(j, key);
	nx__json_str(j, s);
}

void
nx__json_kint(struct nx_json *j, const char *key, int64_t v)
{
	nx__json_key(j, key);
	nx__json_int(j, v);
}

void
nx__json_kuint(struct nx_json *j, const char *key, uint64_t v)
{
	nx__json_key(j, key);
	nx__json_uint(j, v);
}

void
nx__json_kdouble(struct nx_json *j, const char *key, double v, int decimals)
{
	nx__json_key(j, key);
	nx__json_double(j, v, decimals);
}

void
nx__json_kbool(struct nx_json *j, const char *key, bool v)
{
	nx__json_key(j, key);
	nx__json_bool(j, v);
}

void
nx__json_knull(struct nx_json *j, const char *key)
{
	nx__json_key(j, key);
	nx__json_null(j);
}
