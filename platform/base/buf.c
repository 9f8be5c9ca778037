/* The one growing text buffer (buf.h). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "platform/nx_platform.h"
#include "platform/base/buf.h"

static bool
buf_room(struct nx_buf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->max != 0 && b->len + n > b->max) {
		b->failed = b->too_big = true;
		return false;
	}
	if (b->len + n < b->cap)
		return true;
	cap = b->cap * 2 + n + 256;
	p = nx__mem_realloc(b->p, cap);
	if (p == NULL) {
		b->failed = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void
nx__buf_printf(struct nx_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->p != NULL ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if ((size_t)n < room && (b->max == 0 || b->len + (size_t)n <= b->max)) {
			b->len += (size_t)n;
			return;
		}
		if (!buf_room(b, (size_t)n))
			return;
	}
}

void
nx__buf_put(struct nx_buf *b, const char *s, size_t n)
{
	if (b->failed || !buf_room(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
nx__buf_json_str(struct nx_buf *b, const char *s)
{
	nx__buf_json_strn(b, s, SIZE_MAX);
}

void
nx__buf_json_strn(struct nx_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;

	nx__buf_put(b, "\"", 1);
	for (; n != 0 && *s != '\0'; s++, n--) {
		unsigned char c = (unsigned char)*s;
		char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

		if (c != '"' && c != '\\' && c >= 0x20 && c != 0x7f)
			continue;
		nx__buf_put(b, run, (size_t)(s - run));
		run = s + 1;
		if (c == '"' || c == '\\') {
			esc[1] = (char)c;
			nx__buf_put(b, esc, 2);
		} else {
			nx__buf_put(b, esc, sizeof esc);
		}
	}
	nx__buf_put(b, run, (size_t)(s - run));
	nx__buf_put(b, "\"", 1);
}

void
nx__buf_reset(struct nx_buf *b)
{
	b->len = 0;
	b->failed = b->too_big = false;
	if (b->p != NULL)
		b->p[0] = '\0';
}

void
nx__buf_free(struct nx_buf *b)
{
	nx__mem_free(b->p);
	memset(b, 0, sizeof *b);
}
