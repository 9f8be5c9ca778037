/*
 * nxr_msg.h - the retrieval stages' message (NXR1), between stages and
 * to clients (nxcall). Declarations and bounds-checked inline helpers
 * only: a tool includes it without the rest of the package.
 *
 * All little-endian, sections 4-byte aligned:
 *
 *   header   12 bytes: "NXR1", kind, route, flags(16), qlen(16), nhits(16)
 *   q        qlen bytes of normalized query (lowercase ASCII words, one
 *            space apart), zero-padded to 4
 *   hits     nhits x { uint32 doc; float32 score }, best first
 *   titles   NXR_ANSWER only: per hit, uint16 len + len bytes, the whole
 *            section zero-padded to 2 (each title at most NXR_TITLE_MAX)
 *
 * The bytes may be a hostile client's: the parser checks every length
 * against the buffer and copies what it keeps, so that a buffer changed
 * while it is read cannot make a later step read out of bounds.
 */
#ifndef NX_RETRIEVAL_NXR_MSG_H
#define NX_RETRIEVAL_NXR_MSG_H

#include <stdint.h>
#include <string.h>

#define NXR_MAGIC "NXR1"
#define NXR_HDR_BYTES 12
#define NXR_K_MAX 32        /* hits at most, anywhere */
#define NXR_TITLE_MAX 160   /* bytes of a title at most */
#define NXR_Q_MAX 1024      /* bytes of a query (raw or normalized) at most */

enum nxr_kind {
	NXR_QUERY = 1,  /* tokens only */
	NXR_HITS = 2,   /* a ranked list */
	NXR_ANSWER = 3, /* a ranked list with titles */
};

enum nxr_route {
	NXR_ROUTE_LOOKUP = 0,  /* one term */
	NXR_ROUTE_KEYWORD = 1, /* 2-3 terms */
	NXR_ROUTE_PHRASE = 2,  /* "quoted", or 4+ terms */
	NXR_ROUTE_COMPLEX = 3, /* a question, or 8+ terms */
	NXR_ROUTE_UNKNOWN = 0xff,
};

#define NXR_F_CACHED 0x1u   /* answered from the cache */
#define NXR_F_MISS 0x2u     /* a cache-only miss */
#define NXR_F_RERANKED 0x4u /* rerank ran over it */
#define NXR_F_FUSED 0x8u    /* fusion merged several engines */

struct nxr_hit {
	uint32_t doc;
	float score;
};

/* A parsed message: copies of the header and hits; q points into the
 * parsed buffer (copy it with nxr_parse_q before reading it twice). */
struct nxr_view {
	uint8_t kind;
	uint8_t route;
	uint16_t flags;
	uint16_t qlen;
	uint16_t nhits;
	const uint8_t *q;
	struct nxr_hit hits[NXR_K_MAX];
	const uint8_t *titles;  /* NXR_ANSWER: the title section */
	uint32_t titles_len;
	uint32_t len;           /* bytes of the whole message */
};

static inline uint16_t
nxr_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t
nxr_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline void
nxr_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void
nxr_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t
nxr_pad4(uint32_t n)
{
	return (n + 3u) & ~3u;
}

/* Is this an NXR1 message at all (magic only)? */
static inline int
nxr_is_msg(const uint8_t *buf, uint32_t len)
{
	return len >= NXR_HDR_BYTES && memcmp(buf, NXR_MAGIC, 4) == 0;
}

/*
 * Parse buf[len]. Every field is read once.
 * @return 0, or -1 when the bytes are not a well-formed NXR1 message
 *   (bad magic or kind, qlen past NXR_Q_MAX, nhits past NXR_K_MAX, a
 *   section or title past the end)
 */
static inline int
nxr_parse(struct nxr_view *v, const uint8_t *buf, uint32_t len)
{
	uint8_t h[NXR_HDR_BYTES];
	uint32_t off, i, n;

	if (len < NXR_HDR_BYTES)
		return -1;
	memcpy(h, buf, sizeof h);
	if (memcmp(h, NXR_MAGIC, 4) != 0)
		return -1;
	v->kind = h[4];
	v->route = h[5];
	v->flags = nxr_get16(h + 6);
	v->qlen = nxr_get16(h + 8);
	v->nhits = nxr_get16(h + 10);
	if (v->kind < NXR_QUERY || v->kind > NXR_ANSWER || v->qlen > NXR_Q_MAX ||
	    v->nhits > NXR_K_MAX || (v->kind == NXR_QUERY && v->nhits != 0))
		return -1;
	off = NXR_HDR_BYTES;
	if (len - off < nxr_pad4(v->qlen))
		return -1;
	v->q = buf + off;
	off += nxr_pad4(v->qlen);
	if ((len - off) / 8 < v->nhits)
		return -1;
	for (i = 0; i < v->nhits; i++, off += 8) {
		uint32_t s = nxr_get32(buf + off + 4);

		v->hits[i].doc = nxr_get32(buf + off);
		memcpy(&v->hits[i].score, &s, sizeof s);
	}
	v->titles = buf + off;
	v->titles_len = 0;
	if (v->kind == NXR_ANSWER) {
		uint32_t start = off;

		for (i = 0; i < v->nhits; i++) {
			if (len - off < 2)
				return -1;
			n = nxr_get16(buf + off);
			if (n > NXR_TITLE_MAX || len - off - 2 < n)
				return -1;
			off += 2 + n;
		}
		if (off & 1u) {
			if (len - off < 1)
				return -1;
			off++;
		}
		v->titles_len = off - start;
	}
	v->len = off;
	return 0;
}

/*
 * Copy the parsed query into dst[cap] (NUL-terminated, cap > qlen).
 * @return its length, or -1 when it does not fit
 */
static inline int
nxr_parse_q(const struct nxr_view *v, char *dst, uint32_t cap)
{
	if (cap <= v->qlen)
		return -1;
	memcpy(dst, v->q, v->qlen);
	dst[v->qlen] = '\0';
	return v->qlen;
}

/*
 * The next title of a parsed NXR_ANSWER: start with *off = 0.
 * @return 1 and sets title/len, or 0 at the end
 */
static inline int
nxr_next_title(const struct nxr_view *v, uint32_t *off, const uint8_t **title, uint32_t *len)
{
	uint32_t n;

	if (*off + 2 > v->titles_len)
		return 0;
	n = nxr_get16(v->titles + *off);
	if (n > NXR_TITLE_MAX || *off + 2 + n > v->titles_len)
		return 0;
	*title = v->titles + *off + 2;
	*len = n;
	*off += 2 + n;
	return 1;
}

/*
 * Write a header, the query and the hits into out[cap].
 * @return bytes written, or -1 when they do not fit (or qlen/nhits are
 *   past their bounds)
 */
static inline int
nxr_write(uint8_t *out, uint32_t cap, uint8_t kind, uint8_t route, uint16_t flags,
	  const char *q, uint32_t qlen, const struct nxr_hit *hits, uint32_t nhits)
{
	uint32_t need = NXR_HDR_BYTES + nxr_pad4(qlen) + 8 * nhits, off, i;
	uint8_t h[NXR_HDR_BYTES];

	if (qlen > NXR_Q_MAX || nhits > NXR_K_MAX || need > cap)
		return -1;
	memcpy(h, NXR_MAGIC, 4);
	h[4] = kind;
	h[5] = route;
	nxr_put16(h + 6, flags);
	nxr_put16(h + 8, (uint16_t)qlen);
	nxr_put16(h + 10, (uint16_t)nhits);
	memcpy(out, h, sizeof h);
	off = NXR_HDR_BYTES;
	if (qlen != 0)
		memcpy(out + off, q, qlen);
	off += qlen;
	while (off & 3u)
		out[off++] = 0;
	for (i = 0; i < nhits; i++, off += 8) {
		uint32_t s;

		memcpy(&s, &hits[i].score, sizeof s);
		nxr_put32(out + off, hits[i].doc);
		nxr_put32(out + off + 4, s);
	}
	return (int)off;
}

/* A query message (kind NXR_QUERY) of the normalized text q[qlen]. */
static inline int
nxr_write_query(uint8_t *out, uint32_t cap, const char *q, uint32_t qlen)
{
	return nxr_write(out, cap, NXR_QUERY, NXR_ROUTE_UNKNOWN, 0, q, qlen, NULL, 0);
}

#endif /* NX_RETRIEVAL_NXR_MSG_H */
