/*
 * nxr.h - the retrieval package's internals: the corpus and its index
 * (built once per process in init, shared read-only by every stage
 * instance and worker), the normalizer, the ranking engines, the stages.
 *
 * Control path (init/fini, one at a time on nxd's control thread):
 * nxr_index_get / nxr_index_put, nxr_cache_table_get / _put. Data path
 * (process, any worker): everything else; none of it allocates, locks or
 * makes a system call, and each request's work is bounded (NXR_*_MAX).
 */
#ifndef NX_RETRIEVAL_NXR_H
#define NX_RETRIEVAL_NXR_H

#include <stddef.h>
#include <stdint.h>

#include <nx/nx_stage.h>

#include "stages/retrieval/nxr_msg.h"

#define NXR_CORPUS_DEFAULT "/usr/share/wordnet"
#define NXR_FILE_MAX (64u << 20)   /* bytes of one corpus file at most */
#define NXR_TERM_MAX 48            /* longer words are not indexed */
#define NXR_TERMS_MAX 16           /* query terms an engine uses */
#define NXR_CURSORS_MAX 64         /* posting lists one request walks */
#define NXR_SCAN_MAX 16384         /* postings read per list */
#define NXR_PREFIX_EXPAND 8        /* vocabulary terms a prefix stands for */
#define NXR_PREFIX_SCAN 512        /* vocabulary terms a prefix looks at */
#define NXR_FUZZY_PER_TERM 4       /* vocabulary terms a fuzzy term stands for */
#define NXR_FUZZY_SCAN 1024        /* candidate terms a fuzzy term looks at */
#define NXR_FUZZY_KNOWN_DF 3       /* a word in this many documents is spelt right */
#define NXR_PHRASE_VERIFY 4096     /* documents a phrase checks */
#define NXR_WINDOW_SCAN 1024       /* tokens of a document rerank reads */
#define NXR_SEP UINT32_MAX         /* between a document's lemmas and its gloss */
#define NXR_TRI_CODES (37 * 37 * 37)

/* The corpus and its inverted index. Read-only once built. */
struct nxr_index {
	uint32_t ndocs;
	uint32_t nterms;
	float avgdl;
	/* vocabulary, sorted (term id = rank): prefix search is a range */
	const char *term_text;    /* NUL-separated */
	uint32_t *term_off;       /* [nterms] offset in term_text */
	uint8_t *term_len;        /* [nterms] */
	uint32_t *hash;           /* open addressing: term id + 1, 0 empty */
	uint32_t hash_mask;
	/* postings: docs ascending, each with its term frequency */
	uint32_t *post_off;       /* [nterms + 1] */
	uint32_t *post_doc;
	uint8_t *post_tf;
	float *idf;               /* [nterms] */
	uint32_t near_stop_df;    /* a term in more documents is skipped beside others */
	/* documents */
	float *doc_norm;          /* [ndocs] k1 * (1 - b + b * len / avgdl) */
	uint32_t *doc_tok_off;    /* [ndocs + 1] */
	uint32_t *doc_tok;        /* term ids, NXR_SEP between lemmas and the gloss */
	uint32_t *title_off;      /* [ndocs + 1] into titles */
	char *titles;             /* "lemma, lemma (n.): gloss", <= NXR_TITLE_MAX each */
	/* trigram -> terms, for fuzzy */
	uint32_t *tri_off;        /* [NXR_TRI_CODES + 1] */
	uint32_t *tri_term;       /* each code's terms, ascending */
	uint8_t *tri_n;           /* [nterms] distinct trigrams of each term */
	/* what it cost */
	size_t bytes;
	uint64_t build_ns;
	char path[256];
};

/* ---- control path ---- */

/*
 * The process's index of the corpus at dir (NULL: NXR_CORPUS_DEFAULT),
 * built on the first call, then shared by reference count.
 * @return 0, or NX_EINVAL / NX_EPERM (a corpus file refused: a message on
 *   stderr says why), NX_ENOMEM, NX_EIO
 */
int nxr_index_get(const struct nxr_index **idx, const char *dir);
/* Drop a reference; the last frees the index. */
void nxr_index_put(const struct nxr_index *idx);

/* Open the corpus directory: not a symlink, and as trusted as its files.
 * @return a descriptor, or NX_EINVAL / NX_EPERM / NX_EIO */
int nxr_corpus_open(const char *dir);
/* Read dir/name into a new buffer, refusing a file an attacker could have
 * placed (symlink, not regular, owner neither root nor us, group- or
 * other-writable, larger than NXR_FILE_MAX). @return 0 or NX_E* */
int nxr_corpus_read(int dirfd, const char *dir, const char *name, char **buf, size_t *len);

/* ---- text ---- */

/* Is w[n] (lowercase) a stop word? */
int nxr_is_stop(const char *w, uint32_t n);
/*
 * Normalize raw text: lowercase ASCII words (other bytes separate them),
 * stop words and words longer than NXR_TERM_MAX dropped, one space apart.
 * @return bytes written to out (at most cap), never more
 */
uint32_t nxr_normalize(const uint8_t *in, uint32_t len, char *out, uint32_t cap);
/* The router's class of raw text. */
uint8_t nxr_classify_raw(const uint8_t *in, uint32_t len);
/* The class of a normalized query of nterms terms (no quotes nor question
 * words left to see). */
uint8_t nxr_classify_terms(uint32_t nterms);
/* Split normalized q (NUL-terminated, modified: spaces become NULs) into
 * at most max words. @return the number of words */
uint32_t nxr_split(char *q, uint32_t qlen, const char **w, uint32_t *wlen, uint32_t max);

/* ---- index look-ups and engines (data path) ---- */

/* Term id of w[n], or UINT32_MAX. */
uint32_t nxr_term_find(const struct nxr_index *idx, const char *w, uint32_t n);
static inline uint32_t
nxr_df(const struct nxr_index *idx, uint32_t t)
{
	return idx->post_off[t + 1] - idx->post_off[t];
}

/* One weighted term of a query: a posting list and its weight. */
struct nxr_qterm {
	uint32_t term;
	float weight; /* similarity of the term to the query's word (1 exact) */
};

/* Top-n BM25 over the terms' postings, document at a time (an OR).
 * @return hits written to hits[n <= NXR_K_MAX] */
uint32_t nxr_bm25(const struct nxr_index *idx, const struct nxr_qterm *qt, uint32_t nqt,
		  struct nxr_hit *hits, uint32_t n);
/* Top-n documents holding terms[] contiguously, BM25 order. */
uint32_t nxr_phrase(const struct nxr_index *idx, const uint32_t *terms, uint32_t nterms,
		    struct nxr_hit *hits, uint32_t n);
/* The terms w[n] is a prefix of (at most max, most frequent first). @return count */
uint32_t nxr_prefix_terms(const struct nxr_index *idx, const char *w, uint32_t n,
			  struct nxr_qterm *out, uint32_t max);
/* The terms trigram-similar to w[n] (Jaccard >= 0.4; for short words
 * also their adjacent transpositions), weighted by similarity squared
 * and a frequency prior; w itself, when known, weighs 1, and a word in
 * NXR_FUZZY_KNOWN_DF documents or more stands for itself alone. @return count */
uint32_t nxr_fuzzy_terms(const struct nxr_index *idx, const char *w, uint32_t n,
			 struct nxr_qterm *out, uint32_t max);
/* Term proximity of doc for terms[]: (present/nterms) * (present/window),
 * 1 when all of them are adjacent, 0 when none is there. */
float nxr_proximity(const struct nxr_index *idx, uint32_t doc, const uint32_t *terms,
		    uint32_t nterms);
/* The distinct padded trigrams of w[n] ("  w "), sorted, into
 * out[n + 1]. @return count */
uint32_t nxr_trigrams(const char *w, uint32_t n, uint32_t *out);
/* Jaccard similarity of two words' padded trigram sets. */
float nxr_trigram_sim(const char *a, uint32_t an, const char *b, uint32_t bn);

/* ---- the stages ---- */

/* FNV-1a over n bytes: the vocabulary's hash table (32 bits) and the
 * cache's keys (64 bits). */
static inline uint32_t
nxr_hash32(const char *s, uint32_t n)
{
	uint32_t h = 2166136261u;
	uint32_t i;

	for (i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

static inline uint64_t
nxr_hash64(const char *s, uint32_t n)
{
	uint64_t h = 1469598103934665603ull;
	uint32_t i;

	for (i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
	return h;
}

/* nx_ctx.backlog (NX_STAGE_ABI 3): requests waiting behind this one. */
static inline uint32_t
nxr_ctx_backlog(const struct nx_ctx *ctx)
{
	return ctx->backlog; /* nx_ctx.backlog (NX_STAGE_ABI 3) */
}

extern const struct nx_stage_ops nxr_router_stage;
extern const struct nx_stage_ops nxr_preprocess_stage;
extern const struct nx_stage_ops nxr_cache_stage;
extern const struct nx_stage_ops nxr_search_stage;
extern const struct nx_stage_ops nxr_bm25_stage;
extern const struct nx_stage_ops nxr_phrase_stage;
extern const struct nx_stage_ops nxr_prefix_stage;
extern const struct nx_stage_ops nxr_fuzzy_stage;
extern const struct nx_stage_ops nxr_fusion_stage;
extern const struct nx_stage_ops nxr_rerank_stage;
extern const struct nx_stage_ops nxr_answer_stage;

/* ctx meta keys */
#define NXR_META_ROUTE "route"      /* the router's class name */
#define NXR_META_ANSWERED "nxr.ans" /* the answer stage built this request's answer */

#endif /* NX_RETRIEVAL_NXR_H */
