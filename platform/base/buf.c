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

size_t
nx__utf8_seq(const char *p, size_t n)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t len, i;
	uint32_t cp;

	if (n == 0)
		return 0;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1fu;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0fu;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07u;
	else
		return 0; /* a continuation byte, an overlong lead, or past U+10FFFF */
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0; /* overlong, out of range, or a surrogate */
	return len;
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

		if (c >= 0x80) {
			/* JSON is UTF-8: a byte that does not start a whole
			 * sequence becomes U+FFFD, not invalid JSON */
			size_t k = nx__utf8_seq(s, strnlen(s, n < 4 ? n : 4));

			if (k != 0) {
				s += k - 1;
				n -= k - 1;
				continue;
			}
			nx__buf_put(b, run, (size_t)(s - run));
			run = s + 1;
			nx__buf_put(b, "\\ufffd", 6);
			continue;
		}
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
