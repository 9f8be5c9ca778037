/*
 * An answer's NXR1 layout (stages/retrieval/nxr_msg.h: the retrieval
 * stages' message format), read without trusting it: the package's own
 * bounds-checked parser. The one place nxcall knows the layout: decode
 * here, show elsewhere.
 */
#include <string.h>

#include "nxcall.h"

bool
nxcall_nxr_decode(struct nxcall_nxr *m, const uint8_t *p, uint32_t len)
{
	struct nxr_view v;
	uint32_t off = 0, n, i;
	const uint8_t *t;

	if (nxr_parse(&v, p, len) != 0)
		return false;
	m->kind = v.kind;
	m->route = v.route;
	m->flags = v.flags;
	m->q = v.q;
	m->qlen = v.qlen;
	m->nhits = v.nhits;
	for (i = 0; i < v.nhits; i++) {
		m->hits[i].doc = v.hits[i].doc;
		m->hits[i].score = v.hits[i].score;
		m->hits[i].title = NULL;
		m->hits[i].title_len = 0;
		if (v.kind == NXR_ANSWER && nxr_next_title(&v, &off, &t, &n)) {
			m->hits[i].title = t;
			m->hits[i].title_len = (uint16_t)n;
		}
	}
	return true;
}

const char *
nxcall_route_name(uint8_t route)
{
	static const char *const names[] = { "lookup", "keyword", "phrase", "complex" };

	return route < sizeof names / sizeof names[0] ? names[route] : NULL;
}
