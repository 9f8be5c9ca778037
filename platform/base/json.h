/*
 * json.h - the one JSON writer: command replies, nxtop's and nxbench's
 * JSON, the placement report. It writes into a struct nx_buf (buf.h).
 *
 * The writer places the commas and colons: a caller says what comes
 * (open an object, a key, a value, close it) and never spells JSON in a
 * format string. A small stack remembers, per open container, whether it
 * is an object and whether it holds an item yet. Strings are escaped by
 * nx__buf_json_str: '"', '\\' and every control character.
 *
 *   struct nx_buf b = { 0 };
 *   struct nx_json j;
 *
 *   nx__json_init(&j, &b);
 *   nx__json_obj_open(&j);
 *   nx__json_kstr(&j, "pipeline", name);
 *   nx__json_kuint(&j, "version", version);
 *   nx__json_key(&j, "slots");
 *   nx__json_arr_open(&j);
 *   ...
 *   nx__json_arr_close(&j);
 *   nx__json_obj_close(&j);
 *   if (!nx__json_done(&j)) ... (no memory, or misuse)
 *
 * Misuse (a key outside an object, a value without its key inside one, a
 * close that does not match, nesting past NX_JSON_DEPTH) fails the
 * buffer, like running out of memory: the text is not to be used. A
 * value at the top level needs no key; several top-level values (JSON
 * lines) are the caller's to separate, with nx__buf_put(b, "\n", 1).
 */
#ifndef NX_BASE_JSON_H
#define NX_BASE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "platform/base/buf.h"

#define NX_JSON_DEPTH 32 /* containers open at once */

struct nx_json {
	struct nx_buf *b;
	uint32_t depth;     /* containers open */
	uint32_t is_obj;    /* bit d: the container at depth d + 1 is an object */
	uint32_t has_item;  /* bit d: it holds an item (the next needs a comma) */
	bool want_value;    /* a key was written: its value comes next */
};

/** Write into b (appending to what it holds). */
void nx__json_init(struct nx_json *j, struct nx_buf *b);
/** True when every container was closed and the buffer did not fail. */
bool nx__json_done(const struct nx_json *j);

void nx__json_obj_open(struct nx_json *j);
void nx__json_obj_close(struct nx_json *j);
void nx__json_arr_open(struct nx_json *j);
void nx__json_arr_close(struct nx_json *j);
/** A key of the open object; its value is the next thing written. */
void nx__json_key(struct nx_json *j, const char *key);

/* values */
void nx__json_str(struct nx_json *j, const char *s);
/** At most n bytes of s (stops at a NUL before). */
void nx__json_strn(struct nx_json *j, const char *s, size_t n);
void nx__json_int(struct nx_json *j, int64_t v);
void nx__json_uint(struct nx_json *j, uint64_t v);
/** v with `decimals` digits after the point ("%.*f"); null when not finite. */
void nx__json_double(struct nx_json *j, double v, int decimals);
void nx__json_bool(struct nx_json *j, bool v);
void nx__json_null(struct nx_json *j);

/* a key and its value, the common case in an object */
void nx__json_kstr(struct nx_json *j, const char *key, const char *s);
void nx__json_kint(struct nx_json *j, const char *key, int64_t v);
void nx__json_kuint(struct nx_json *j, const char *key, uint64_t v);
void nx__json_kdouble(struct nx_json *j, const char *key, double v, int decimals);
void nx__json_kbool(struct nx_json *j, const char *key, bool v);
void nx__json_knull(struct nx_json *j, const char *key);

#endif /* NX_BASE_JSON_H */
