/*
 * An answer's NXR1 layout, read without trusting it (the retrieval
 * stages' message format, all little-endian, 4-byte aligned sections):
 *
 *   header, 12 bytes: magic "NXR1", kind u8, route u8, flags u16,
 *                     qlen u16, nhits u16
 *   q[qlen], zero-padded to 4
 *   nhits x { doc u32, score f32 }                  best first
 *   NXR_ANSWER only, per hit: len u16, len bytes of title, padded to 2
 *
 * The one place nxcall knows the layout: decode here, show elsewhere.
 */
#include <string.h>

#include "nxcall.h"

static uint16_t
le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

bool
nxcall_nxr_decode(struct nxcall_nxr *m, const uint8_t *p, uint32_t len)
{
	size_t off;
	unsigned i;

	if (len < 12 || memcmp(p, "NXR1", 4) != 0)
		return false;
	m->kind = p[4];
	m->route = p[5];
	m->flags = le16(p + 6);
	m->qlen = le16(p + 8);
	m->nhits = le16(p + 10);
	if (m->kind < NXCALL_NXR_QUERY || m->kind > NXCALL_NXR_ANSWER ||
	    m->nhits > NXCALL_NXR_K_MAX)
		return false;
	off = 12;
	if (m->qlen > len - off)
		return false;
	m->q = p + off;
	off += ((size_t)m->qlen + 3) & ~(size_t)3;
	if (off > len)
		off = len; /* the padding of a message that ends there */
	if ((size_t)m->nhits * 8 > len - off)
		return false;
	for (i = 0; i < m->nhits; i++, off += 8) {
		uint32_t bits = le32(p + off + 4);

		m->hits[i].doc = le32(p + off);
		memcpy(&m->hits[i].score, &bits, sizeof bits);
		m->hits[i].title = NULL;
		m->hits[i].title_len = 0;
	}
	if (m->kind != NXCALL_NXR_ANSWER)
		return true;
	for (i = 0; i < m->nhits; i++) {
		uint16_t n;

		if (len - off < 2)
			return false;
		n = le16(p + off);
		off += 2;
		if (n > NXCALL_NXR_TITLE_MAX || n > len - off)
			return false;
		m->hits[i].title = p + off;
		m->hits[i].title_len = n;
		off += ((size_t)n + 1) & ~(size_t)1;
		if (off > len)
			off = len; /* the last title's padding */
	}
	return true;
}

const char *
nxcall_route_name(uint8_t route)
{
	static const char *const names[] = { "lookup", "keyword", "phrase", "complex" };

	return route < sizeof names / sizeof names[0] ? names[route] : NULL;
}
