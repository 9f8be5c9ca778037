/*
 * buf.h - the one growing text buffer: command replies, placement reports,
 * nxtop's exports. Control path only (it allocates through nx__mem_*).
 *
 * A failed append (no memory, or past max) marks the buffer failed and
 * every later append is a no-op, so a writer appends freely and checks
 * once at the end, the way redis's sds and the kernel's seq_file do.
 */
#ifndef NX_BASE_BUF_H
#define NX_BASE_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct nx_buf {
	char *p;            /* NUL-terminated when len > 0 */
	size_t len;
	size_t cap;
	size_t max;         /* 0: no bound; else more fails with too_big */
	bool failed;        /* no memory, or past max: the text is incomplete */
	bool too_big;
};

/** Append formatted text. */
void nx__buf_printf(struct nx_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Append n bytes. */
void nx__buf_put(struct nx_buf *b, const char *s, size_t n);
/** Append s as a JSON string (quoted; '"', '\\' and every control character escaped). */
void nx__buf_json_str(struct nx_buf *b, const char *s);
/** The same of at most n bytes of s (it stops at a NUL before). */
void nx__buf_json_strn(struct nx_buf *b, const char *s, size_t n);

/** The length (1 to 4) of the whole UTF-8 sequence at p, within n bytes;
 *  0 when none starts there (a stray or cut byte, an overlong form, a
 *  surrogate, past U+10FFFF). */
size_t nx__utf8_seq(const char *p, size_t n);
/** Forget the text, keep the memory. */
void nx__buf_reset(struct nx_buf *b);
/** Free the memory; the buffer is empty and usable again. */
void nx__buf_free(struct nx_buf *b);

#endif /* NX_BASE_BUF_H */
