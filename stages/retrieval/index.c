/*
 * The corpus (WordNet 3.0's data.* files: one document per synset, its
 * lemmas and its gloss) and its inverted index, built once per process
 * on the control thread and shared by reference count: init and fini run
 * one at a time on nxd's control thread, so the count needs no lock, and
 * the last fini runs after the grace period, when no worker reads it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stages/retrieval/nxr.h"

#define BM25_K1 1.2f
#define BM25_B 0.75f
/* A synset is about its names: a one-word lemma counts as LEMMA_TF
 * occurrences of its word, a word of a longer lemma as one, and a word
 * in several lemmas of a synset as in its best one ("dog" is about dogs
 * more than "dog shit, dog do, dog turd" is). */
#define LEMMA_TF 3
#define DOC_TERMS 4096 /* distinct words a document counts (the longest has ~300) */

static struct nxr_index *shared;
static unsigned shared_refs;

/* ---- growable arrays (build only) ---- */

struct vec {
	void *p;
	size_t n, cap, elem;
};

static int
vec_grow(struct vec *v, size_t more)
{
	size_t cap;
	void *p;

	if (v->n + more <= v->cap)
		return 0;
	cap = v->cap ? v->cap : 1024;
	while (cap < v->n + more)
		cap *= 2;
	p = realloc(v->p, cap * v->elem);
	if (p == NULL)
		return NX_ENOMEM;
	v->p = p;
	v->cap = cap;
	return 0;
}

#define VEC(type) { NULL, 0, 0, sizeof(type) }
#define VAT(v, type, i) (((type *)(v).p)[i])

/* ---- the build ---- */

struct build {
	struct vec text;     /* char: term strings, NUL-terminated */
	struct vec toff;     /* uint32_t: term -> offset in text */
	uint32_t *h;         /* term + 1 */
	uint32_t hmask;
	struct vec tok;      /* uint32_t: every document's tokens, temporary ids */
	struct vec tokoff;   /* uint32_t: document -> first token */
	struct vec lemend;   /* uint32_t: document -> end of its lemma tokens */
	struct vec titles;   /* char */
	struct vec titoff;   /* uint32_t */
	char *norm;          /* scratch for nxr_normalize */
	uint32_t normcap;
};

static int
intern(struct build *b, const char *w, uint32_t n, uint32_t *id)
{
	uint32_t i = nxr_hash32(w, n) & b->hmask, t;

	while ((t = b->h[i]) != 0) {
		const char *s = &VAT(b->text, char, VAT(b->toff, uint32_t, t - 1));

		if (strncmp(s, w, n) == 0 && s[n] == '\0') {
			*id = t - 1;
			return 0;
		}
		i = (i + 1) & b->hmask;
	}
	if (b->toff.n * 2 >= b->hmask) {
		/* grow the table: rehash every term */
		uint32_t nmask = b->hmask * 2 + 1, j;
		uint32_t *nh = calloc((size_t)nmask + 1, sizeof *nh);

		if (nh == NULL)
			return NX_ENOMEM;
		for (j = 0; j < b->toff.n; j++) {
			const char *s = &VAT(b->text, char, VAT(b->toff, uint32_t, j));
			uint32_t k = nxr_hash32(s, (uint32_t)strlen(s)) & nmask;

			while (nh[k] != 0)
				k = (k + 1) & nmask;
			nh[k] = j + 1;
		}
		free(b->h);
		b->h = nh;
		b->hmask = nmask;
		return intern(b, w, n, id);
	}
	if (vec_grow(&b->text, n + 1) < 0 || vec_grow(&b->toff, 1) < 0)
		return NX_ENOMEM;
	VAT(b->toff, uint32_t, b->toff.n) = (uint32_t)b->text.n;
	memcpy(&VAT(b->text, char, b->text.n), w, n);
	VAT(b->text, char, b->text.n + n) = '\0';
	b->text.n += n + 1;
	*id = (uint32_t)b->toff.n++;
	b->h[i] = *id + 1;
	return 0;
}

/* Normalize s[n] and append its tokens to the current document. */
static int
add_tokens(struct build *b, const char *s, uint32_t n)
{
	uint32_t len, i = 0;
	int rc;

	if (n > b->normcap)
		n = b->normcap;
	len = nxr_normalize((const uint8_t *)s, n, b->norm, b->normcap);
	while (i < len) {
		uint32_t start = i, id;

		while (i < len && b->norm[i] != ' ')
			i++;
		rc = intern(b, b->norm + start, i - start, &id);
		if (rc < 0)
			return rc;
		if (vec_grow(&b->tok, 1) < 0)
			return NX_ENOMEM;
		VAT(b->tok, uint32_t, b->tok.n++) = id;
		i++;
	}
	return 0;
}

static int
add_sep(struct build *b)
{
	if (vec_grow(&b->tok, 1) < 0)
		return NX_ENOMEM;
	VAT(b->tok, uint32_t, b->tok.n++) = NXR_SEP;
	return 0;
}

static int
title_put(struct build *b, const char *s, size_t n, size_t *used)
{
	if (*used + n > NXR_TITLE_MAX)
		n = NXR_TITLE_MAX - *used;
	if (vec_grow(&b->titles, n) < 0)
		return NX_ENOMEM;
	memcpy(&VAT(b->titles, char, b->titles.n), s, n);
	b->titles.n += n;
	*used += n;
	return 0;
}

/* One line of a data.* file: "offset lex ss_type w_cnt(hex) {word lex_id}
 * p_cnt {pointer} [frames] | gloss". @return 1 a document, 0 not one, or NX_E* */
static int
parse_line(struct build *b, char *line, char *end)
{
	static const char *const pos_name[] = { "n.", "v.", "adj.", "adj.", "adv." };
	char *p = line, *bar, *gloss, *f[4];
	unsigned long nw, i;
	size_t used = 0;
	int pos, rc;

	if (end - line < 20 || line[0] < '0' || line[0] > '9')
		return 0; /* the licence header and blank lines */
	for (i = 0; i < 4; i++) {
		while (p < end && *p == ' ')
			p++;
		f[i] = p;
		while (p < end && *p != ' ')
			p++;
		if (p < end)
			*p++ = '\0';
	}
	switch (f[2][0]) {
	case 'n': pos = 0; break;
	case 'v': pos = 1; break;
	case 'a': pos = 2; break;
	case 's': pos = 3; break;
	case 'r': pos = 4; break;
	default: return 0;
	}
	nw = strtoul(f[3], NULL, 16);
	bar = memchr(p, '|', (size_t)(end - p));
	gloss = bar != NULL ? bar + 1 : end;
	while (gloss < end && *gloss == ' ')
		gloss++;
	while (end > gloss && (end[-1] == ' ' || end[-1] == '\r'))
		end--;
	if (vec_grow(&b->tokoff, 1) < 0 || vec_grow(&b->lemend, 1) < 0 ||
	    vec_grow(&b->titoff, 1) < 0)
		return NX_ENOMEM;
	VAT(b->tokoff, uint32_t, b->tokoff.n++) = (uint32_t)b->tok.n;
	VAT(b->titoff, uint32_t, b->titoff.n++) = (uint32_t)b->titles.n;
	for (i = 0; i < nw && p < (bar ? bar : end); i++) {
		char *w, *q;

		while (*p == ' ')
			p++;
		w = p;
		while (p < end && *p != ' ')
			p++;
		*p++ = '\0';
		while (p < end && *p == ' ')
			p++;
		while (p < end && *p != ' ')
			p++; /* lex_id */
		q = strchr(w, '(');
		if (q != NULL)
			*q = '\0'; /* an adjective's marker: "(a)", "(p)", "(ip)" */
		for (q = w; *q; q++)
			if (*q == '_')
				*q = ' ';
		if (i != 0 && ((rc = add_sep(b)) < 0 || (rc = title_put(b, ", ", 2, &used)) < 0))
			return rc;
		if ((rc = add_tokens(b, w, (uint32_t)strlen(w))) < 0 ||
		    (rc = title_put(b, w, strlen(w), &used)) < 0)
			return rc;
	}
	VAT(b->lemend, uint32_t, b->lemend.n++) = (uint32_t)b->tok.n;
	if ((rc = add_sep(b)) < 0 || (rc = add_tokens(b, gloss, (uint32_t)(end - gloss))) < 0 ||
	    (rc = title_put(b, " (", 2, &used)) < 0 ||
	    (rc = title_put(b, pos_name[pos], strlen(pos_name[pos]), &used)) < 0 ||
	    (rc = title_put(b, "): ", 3, &used)) < 0 ||
	    (rc = title_put(b, gloss, (size_t)(end - gloss), &used)) < 0)
		return rc;
	return 1;
}

static int
load_file(struct build *b, int dirfd, const char *dir, const char *name)
{
	char *buf, *p, *end;
	size_t len;
	int rc;

	rc = nxr_corpus_read(dirfd, dir, name, &buf, &len);
	if (rc < 0)
		return rc;
	for (p = buf, end = buf + len; p < end;) {
		char *nl = memchr(p, '\n', (size_t)(end - p));

		if (nl == NULL)
			nl = end;
		*nl = '\0';
		rc = parse_line(b, p, nl);
		if (rc < 0)
			break;
		p = nl + 1;
	}
	free(buf);
	return rc < 0 ? rc : 0;
}

static int
cmp_term(const void *a, const void *b, void *arg)
{
	const struct build *bd = arg;
	const uint32_t *off = bd->toff.p;
	const char *text = bd->text.p;

	return strcmp(text + off[*(const uint32_t *)a], text + off[*(const uint32_t *)b]);
}

static inline uint32_t
tri_char(char c)
{
	if (c >= 'a' && c <= 'z')
		return (uint32_t)(c - 'a' + 1);
	if (c >= '0' && c <= '9')
		return (uint32_t)(c - '0' + 27);
	return 0;
}

uint32_t
nxr_trigrams(const char *w, uint32_t n, uint32_t *out)
{
	uint32_t i, j, k, c0 = 0, c1 = 0, cnt = 0;

	for (i = 0; i <= n; i++) {
		uint32_t c2 = i < n ? tri_char(w[i]) : 0, code = (c0 * 37 + c1) * 37 + c2;

		/* insertion into a sorted set: words are short */
		for (j = 0; j < cnt && out[j] < code; j++)
			;
		if (j == cnt || out[j] != code) {
			for (k = cnt; k > j; k--)
				out[k] = out[k - 1];
			out[j] = code;
			cnt++;
		}
		c0 = c1;
		c1 = c2;
	}
	return cnt;
}

static void
index_free(struct nxr_index *x)
{
	if (x == NULL)
		return;
	free((void *)x->term_text);
	free(x->term_off);
	free(x->term_len);
	free(x->hash);
	free(x->post_off);
	free(x->post_doc);
	free(x->post_tf);
	free(x->idf);
	free(x->doc_norm);
	free(x->doc_tok_off);
	free(x->doc_tok);
	free(x->title_off);
	free(x->titles);
	free(x->tri_off);
	free(x->tri_term);
	free(x->tri_n);
	free(x);
}

static void
build_free(struct build *b)
{
	free(b->text.p);
	free(b->toff.p);
	free(b->h);
	free(b->tok.p);
	free(b->tokoff.p);
	free(b->lemend.p);
	free(b->titles.p);
	free(b->titoff.p);
	free(b->norm);
}

/* The distinct terms of document d with their weighted frequencies.
 * @return how many */
static uint32_t
doc_terms(const uint32_t *tok, uint32_t start, uint32_t lem, uint32_t end, uint32_t *terms,
	  uint32_t *tf)
{
	uint32_t n = 0, i, j, seg = start;

	for (i = start; i < end; i++) {
		uint32_t t = tok[i], w;

		if (t == NXR_SEP) {
			seg = i + 1;
			continue;
		}
		if (i < lem) /* a lemma: alone in it, or one of its words */
			w = (i == seg && (i + 1 == end || tok[i + 1] == NXR_SEP)) ? LEMMA_TF : 1;
		else
			w = 1;
		for (j = 0; j < n && terms[j] != t; j++)
			;
		if (j == n) {
			if (n == DOC_TERMS)
				continue;
			terms[n] = t;
			tf[n++] = 0;
		}
		if (i < lem)
			tf[j] = tf[j] > w ? tf[j] : w; /* its best lemma */
		else
			tf[j] += w;
	}
	return n;
}

/* Sort the vocabulary, renumber the tokens, and lay out the index. */
static int
finish(struct nxr_index *x, struct build *b)
{
	uint32_t nterms = (uint32_t)b->toff.n, ndocs = (uint32_t)b->tokoff.n;
	uint32_t *order = NULL, *rank = NULL, *fill = NULL, *dl = NULL;
	uint32_t *tokv = b->tok.p, *tokoff = b->tokoff.p, *lemend = b->lemend.p;
	uint32_t t, d, i, tri[NXR_TERM_MAX + 2], *dterm = NULL, *dtf = NULL;
	size_t off = 0, npost = 0, ntri = 0;
	char *text;
	double sumdl = 0;
	int rc = NX_ENOMEM;

	x->ndocs = ndocs;
	x->nterms = nterms;
	order = malloc((size_t)nterms * sizeof *order);
	rank = malloc((size_t)nterms * sizeof *rank);
	fill = malloc((size_t)nterms * sizeof *fill);
	dl = calloc(ndocs, sizeof *dl);
	dterm = malloc(DOC_TERMS * sizeof *dterm);
	dtf = malloc(DOC_TERMS * sizeof *dtf);
	x->tri_n = malloc(nterms);
	x->term_off = malloc((size_t)nterms * sizeof *x->term_off);
	x->term_len = malloc(nterms);
	x->post_off = calloc((size_t)nterms + 1, sizeof *x->post_off);
	x->idf = malloc((size_t)nterms * sizeof *x->idf);
	text = malloc(b->text.n);
	x->term_text = text; /* the index owns it from here, freed with it on failure too */
	if (!order || !rank || !fill || !dl || !dterm || !dtf || !x->tri_n || !x->term_off ||
	    !x->term_len ||
	    !x->post_off || !x->idf || !text)
		goto out;
	for (t = 0; t < nterms; t++)
		order[t] = t;
	qsort_r(order, nterms, sizeof *order, cmp_term, b);
	for (i = 0; i < nterms; i++) {
		const char *s = &VAT(b->text, char, VAT(b->toff, uint32_t, order[i]));
		size_t n = strlen(s);

		rank[order[i]] = i;
		x->term_off[i] = (uint32_t)off;
		x->term_len[i] = (uint8_t)n;
		memcpy(text + off, s, n + 1);
		off += n + 1;
	}
	for (i = 0; i < b->tok.n; i++)
		if (tokv[i] != NXR_SEP)
			tokv[i] = rank[tokv[i]];

	/* document frequencies, then postings in document order */
	for (d = 0; d < ndocs; d++) {
		uint32_t end = d + 1 < ndocs ? tokoff[d + 1] : (uint32_t)b->tok.n;
		uint32_t n = doc_terms(tokv, tokoff[d], lemend[d], end, dterm, dtf);

		for (i = 0; i < n; i++) {
			x->post_off[dterm[i] + 1]++;
			dl[d] += dtf[i];
		}
		npost += n;
		sumdl += dl[d];
	}
	for (t = 0; t < nterms; t++)
		x->post_off[t + 1] += x->post_off[t];
	x->post_doc = malloc(npost * sizeof *x->post_doc);
	x->post_tf = malloc(npost);
	if (!x->post_doc || !x->post_tf)
		goto out;
	memcpy(fill, x->post_off, (size_t)nterms * sizeof *fill);
	for (d = 0; d < ndocs; d++) {
		uint32_t end = d + 1 < ndocs ? tokoff[d + 1] : (uint32_t)b->tok.n;
		uint32_t n = doc_terms(tokv, tokoff[d], lemend[d], end, dterm, dtf);

		for (i = 0; i < n; i++) {
			t = dterm[i];
			x->post_doc[fill[t]] = d;
			x->post_tf[fill[t]++] = (uint8_t)(dtf[i] < 255 ? dtf[i] : 255);
		}
	}
	x->avgdl = ndocs ? (float)(sumdl / ndocs) : 1.0f;
	x->near_stop_df = ndocs / 5;
	for (t = 0; t < nterms; t++) {
		double df = nxr_df(x, t);

		x->idf[t] = (float)log(1.0 + ((double)ndocs - df + 0.5) / (df + 0.5));
	}
	x->doc_norm = malloc((size_t)ndocs * sizeof *x->doc_norm);
	if (!x->doc_norm)
		goto out;
	for (d = 0; d < ndocs; d++)
		x->doc_norm[d] = BM25_K1 * (1.0f - BM25_B + BM25_B * (float)dl[d] / x->avgdl);

	/* the look-up table: term id + 1 */
	for (x->hash_mask = 1023; x->hash_mask < nterms * 2; x->hash_mask = x->hash_mask * 2 + 1)
		;
	x->hash = calloc((size_t)x->hash_mask + 1, sizeof *x->hash);
	if (!x->hash)
		goto out;
	for (t = 0; t < nterms; t++) {
		uint32_t k = nxr_hash32(text + x->term_off[t], x->term_len[t]) & x->hash_mask;

		while (x->hash[k] != 0)
			k = (k + 1) & x->hash_mask;
		x->hash[k] = t + 1;
	}

	/* trigram -> terms */
	x->tri_off = calloc(NXR_TRI_CODES + 1, sizeof *x->tri_off);
	if (!x->tri_off)
		goto out;
	for (t = 0; t < nterms; t++) {
		uint32_t n = nxr_trigrams(text + x->term_off[t], x->term_len[t], tri);

		for (i = 0; i < n; i++)
			x->tri_off[tri[i] + 1]++;
		x->tri_n[t] = (uint8_t)n;
		ntri += n;
	}
	for (i = 0; i < NXR_TRI_CODES; i++)
		x->tri_off[i + 1] += x->tri_off[i];
	x->tri_term = malloc(ntri * sizeof *x->tri_term);
	if (!x->tri_term)
		goto out;
	free(fill);
	fill = malloc(NXR_TRI_CODES * sizeof *fill);
	if (!fill)
		goto out;
	memcpy(fill, x->tri_off, NXR_TRI_CODES * sizeof *fill);
	for (t = 0; t < nterms; t++) {
		uint32_t n = nxr_trigrams(text + x->term_off[t], x->term_len[t], tri);

		for (i = 0; i < n; i++)
			x->tri_term[fill[tri[i]]++] = t;
	}

	/* the documents: tokens (moved), titles (moved) */
	x->doc_tok = b->tok.p;
	b->tok.p = NULL;
	if (vec_grow(&b->tokoff, 1) < 0 || vec_grow(&b->titoff, 1) < 0)
		goto out;
	VAT(b->tokoff, uint32_t, ndocs) = (uint32_t)b->tok.n;
	VAT(b->titoff, uint32_t, ndocs) = (uint32_t)b->titles.n;
	x->doc_tok_off = b->tokoff.p;
	b->tokoff.p = NULL;
	x->title_off = b->titoff.p;
	b->titoff.p = NULL;
	x->titles = b->titles.p;
	b->titles.p = NULL;
	x->bytes = off + (size_t)nterms * (4 + 1 + 4 + 4 + 1) + (x->hash_mask + 1) * 4ul +
		   npost * 5 + (size_t)ndocs * (4 + 4 + 4) + b->tok.n * 4 + b->titles.n +
		   (NXR_TRI_CODES + 1) * 4ul + ntri * 4;
	rc = 0;
out:
	free(order);
	free(rank);
	free(fill);
	free(dl);
	free(dterm);
	free(dtf);
	return rc;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
index_build(struct nxr_index **out, const char *dir)
{
	static const char *const files[] = { "data.noun", "data.verb", "data.adj", "data.adv" };
	struct build b = { VEC(char), VEC(uint32_t), NULL, 0, VEC(uint32_t), VEC(uint32_t),
			   VEC(uint32_t), VEC(char), VEC(uint32_t), NULL, 0 };
	uint64_t t0 = now_ns();
	struct nxr_index *x;
	unsigned i;
	int dirfd, rc;

	x = calloc(1, sizeof *x);
	b.hmask = (1u << 16) - 1;
	b.h = calloc((size_t)b.hmask + 1, sizeof *b.h);
	b.normcap = 1u << 16;
	b.norm = malloc(b.normcap);
	if (x == NULL || b.h == NULL || b.norm == NULL) {
		rc = NX_ENOMEM;
		goto err;
	}
	snprintf(x->path, sizeof x->path, "%s", dir);
	dirfd = nxr_corpus_open(dir);
	if (dirfd < 0) {
		rc = dirfd;
		goto err;
	}
	rc = 0;
	for (i = 0; i < sizeof files / sizeof files[0] && rc == 0; i++)
		rc = load_file(&b, dirfd, dir, files[i]);
	close(dirfd);
	if (rc == 0 && b.tokoff.n == 0) {
		fprintf(stderr, "retrieval: %s: no synset found\n", dir);
		rc = NX_EINVAL;
	}
	if (rc == 0)
		rc = finish(x, &b);
	if (rc < 0)
		goto err;
	build_free(&b);
	x->build_ns = now_ns() - t0;
	*out = x;
	return 0;
err:
	build_free(&b);
	index_free(x);
	return rc;
}

int
nxr_index_get(const struct nxr_index **idx, const char *dir)
{
	int rc;

	if (dir == NULL || dir[0] == '\0')
		dir = NXR_CORPUS_DEFAULT;
	if (shared != NULL) {
		if (strcmp(shared->path, dir) != 0) {
			fprintf(stderr, "retrieval: corpus %s: this process already serves %s\n",
				dir, shared->path);
			return NX_EINVAL;
		}
		shared_refs++;
		*idx = shared;
		return 0;
	}
	if (strlen(dir) >= sizeof shared->path)
		return NX_EINVAL;
	rc = index_build(&shared, dir);
	if (rc < 0) {
		shared = NULL;
		return rc;
	}
	shared_refs = 1;
	*idx = shared;
	return 0;
}

void
nxr_index_put(const struct nxr_index *idx)
{
	if (idx == NULL || idx != shared || shared_refs == 0)
		return;
	if (--shared_refs == 0) {
		index_free(shared);
		shared = NULL;
	}
}
