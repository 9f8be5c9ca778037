/*
 * Showing an answer: a ranked list for the retrieval stages' NXR1
 * messages, escaped text for anything else. An answer is whatever a stage
 * wrote: nothing of it reaches the terminal unescaped, nothing of it
 * makes the JSON invalid.
 */
#include <stdio.h>
#include <string.h>

#include "nxcall.h"

/*
 * The length of the valid UTF-8 sequence at p (at most n bytes) for a
 * code point a terminal prints as a character: not a C0 or C1 control,
 * not DEL, not a surrogate, not overlong. 0 when there is none.
 */
static size_t
utf8_printable(const uint8_t *p, size_t n)
{
	uint32_t cp, min;
	size_t k, i;

	if (p[0] >= 0x20 && p[0] < 0x7f)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		k = 2;
		cp = p[0] & 0x1fu;
		min = 0xa0; /* 0x80-0x9f are the C1 controls */
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		k = 3;
		cp = p[0] & 0x0fu;
		min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		k = 4;
		cp = p[0] & 0x07u;
		min = 0x10000;
	} else {
		return 0;
	}
	if (k > n)
		return 0;
	for (i = 1; i < k; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3fu);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return k;
}

/* Bytes to the terminal: printable characters as they are, the rest as
 * \n, \t, \\ or \xNN. */
static void
put_escaped(FILE *f, const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t k = utf8_printable(p + i, n - i);

		if (k != 0 && p[i] != '\\') {
			fwrite(p + i, 1, k, f);
			i += k;
			continue;
		}
		if (p[i] == '\\')
			fputs("\\\\", f);
		else if (p[i] == '\n')
			fputs("\\n", f);
		else if (p[i] == '\t')
			fputs("\\t", f);
		else
			fprintf(f, "\\x%02x", p[i]);
		i++;
	}
}

/* Bytes as a JSON string: what is not valid UTF-8 becomes U+FFFD (the
 * writer escapes quotes, backslashes and control characters). */
static void
json_bytes(struct nx_json *j, const uint8_t *p, size_t n)
{
	struct nx_buf b = { 0 };
	size_t i = 0;

	while (i < n) {
		size_t k = utf8_printable(p + i, n - i);

		if (k == 0 && p[i] != 0 && p[i] < 0x80)
			k = 1; /* a control character: the writer escapes it */
		if (k == 0) {
			nx__buf_put(&b, "\xef\xbf\xbd", 3);
			i++;
			continue;
		}
		nx__buf_put(&b, (const char *)p + i, k);
		i += k;
	}
	nx__json_strn(j, b.len != 0 ? b.p : "", b.len);
	if (b.failed)
		nx__json_null(j); /* out of memory: fail the object too (a value without its key) */
	nx__buf_free(&b);
}

static void
print_nxr(const struct nxcall_nxr *m, bool degraded)
{
	static const char *const kinds[] = { "", "query", "hits", "answer" };
	const char *route = nxcall_route_name(m->route);
	unsigned i;

	printf("%s: %u hit%s", kinds[m->kind], m->nhits, m->nhits == 1 ? "" : "s");
	if (route != NULL)
		printf(", route %s", route);
	if (m->flags & NXR_F_FUSED)
		printf(", fused");
	if (m->flags & NXR_F_RERANKED)
		printf(", reranked");
	if (m->qlen != 0) {
		printf(", query \"");
		put_escaped(stdout, m->q, m->qlen);
		printf("\"");
	}
	printf("\n");
	if (m->nhits != 0)
		printf("  %4s  %10s  %8s  %s\n", "rank", "score", "doc", m->kind == NXR_ANSWER ? "title" : "");
	for (i = 0; i < m->nhits; i++) {
		const struct nxcall_hit *h = &m->hits[i];

		printf("  %4u  %10.4f  %8u  ", i + 1, (double)h->score, h->doc);
		if (h->title != NULL)
			put_escaped(stdout, h->title, h->title_len);
		printf("\n");
	}
	if (m->flags & NXR_F_CACHED)
		printf("(answered from the cache)\n");
	if (m->flags & NXR_F_MISS)
		printf("no cached answer\n");
	if (degraded)
		printf("degraded: a slot answered with its degraded strategy (skip, fallback or cache)\n");
}

void
nxcall_print_answer(const uint8_t *p, uint32_t len, bool degraded)
{
	struct nxcall_nxr m;

	if (nxcall_nxr_decode(&m, p, len)) {
		print_nxr(&m, degraded);
		return;
	}
	put_escaped(stdout, p, len);
	printf("\n");
	if (degraded)
		printf("degraded: a slot answered with its degraded strategy (skip, fallback or cache)\n");
}

void
nxcall_json_answer(struct nx_json *j, const uint8_t *p, uint32_t len)
{
	static const char *const kinds[] = { "", "query", "hits", "answer" };
	struct nxcall_nxr m;
	const char *route;
	unsigned i;

	nx__json_kuint(j, "bytes", len);
	if (!nxcall_nxr_decode(&m, p, len)) {
		nx__json_kstr(j, "format", "text");
		nx__json_key(j, "text");
		json_bytes(j, p, len);
		return;
	}
	route = nxcall_route_name(m.route);
	nx__json_kstr(j, "format", "nxr1");
	nx__json_kstr(j, "kind", kinds[m.kind]);
	if (route != NULL)
		nx__json_kstr(j, "route", route);
	else
		nx__json_knull(j, "route");
	nx__json_kbool(j, "cached", (m.flags & NXR_F_CACHED) != 0);
	nx__json_kbool(j, "miss", (m.flags & NXR_F_MISS) != 0);
	nx__json_kbool(j, "fused", (m.flags & NXR_F_FUSED) != 0);
	nx__json_kbool(j, "reranked", (m.flags & NXR_F_RERANKED) != 0);
	nx__json_key(j, "query");
	json_bytes(j, m.q, m.qlen);
	nx__json_key(j, "hits");
	nx__json_arr_open(j);
	for (i = 0; i < m.nhits; i++) {
		nx__json_obj_open(j);
		nx__json_kuint(j, "rank", i + 1);
		nx__json_kuint(j, "doc", m.hits[i].doc);
		nx__json_kdouble(j, "score", (double)m.hits[i].score, 6);
		if (m.hits[i].title != NULL) {
			nx__json_key(j, "title");
			json_bytes(j, m.hits[i].title, m.hits[i].title_len);
		}
		nx__json_obj_close(j);
	}
	nx__json_arr_close(j);
}
