/*
 * nxdemo - a client of nexus, as an application would write one: attach
 * to an instance, keep a window of requests in flight for a while, check
 * every answer, and say what happened. `make demo` runs it.
 *
 * Two kinds of traffic:
 *   - echo (the default): echo and checksum requests to nxd's built-in
 *     pipelines, every answer checked byte for byte;
 *   - --retrieval: the retrieval pipelines of examples/retrieval.conf
 *     (cache-only, smart, full, maximum, adaptive) with queries made of
 *     real WordNet words and phrases, a deadline per request, every request
 *     idempotent; per pipeline it counts requests, errors by name, degraded
 *     and cached answers and latency, and it checks that every request got
 *     exactly one completion, across restarts of nxd. --measure is the
 *     same mix one pipeline at a time, for the latency table.
 *
 * It uses the public API (<nx/nx.h>), the retrieval package's message
 * parser (stages/retrieval/nxr_msg.h) and, for the percentiles, the
 * histogram nxbench and the health segment use.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nx/nx.h>

#include "core/datapath/hist.h"
#include "platform/base/rand.h"
#include "stages/retrieval/nxr_msg.h"

/*
 * Progress where a person waits: on a terminal, one line rewritten in
 * place at most five times a second and wiped before anything else is
 * printed; nothing at all when stdout is a pipe or a file, which stay
 * what they were (tests and scripts parse them).
 */
static bool progress_tty;
static bool progress_shown;
static uint64_t progress_last_ns;

static void __attribute__((format(printf, 1, 2)))
progress(const char *fmt, ...)
{
	uint64_t now;
	va_list ap;

	if (!progress_tty)
		return;
	now = nx_now_ns();
	if (progress_shown && now - progress_last_ns < 200000000ull)
		return;
	progress_last_ns = now;
	progress_shown = true;
	fputs("\r\033[K", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

static void
progress_clear(void)
{
	if (!progress_shown)
		return;
	progress_shown = false;
	fputs("\r\033[K", stdout);
	fflush(stdout);
}

uint32_t nx__crc32c(uint32_t crc, const void *buf, size_t len);

struct opts {
	const char *instance;
	unsigned seconds, window, ready_s, timeout_s;
	bool wait_ready;
	/* retrieval */
	bool retrieval, measure, sleep_wait;
	unsigned rate;         /* requests/s, 0: as fast as answers come */
	unsigned deadline_pct; /* a request's deadline: this % of its pipeline's seed target */
	unsigned requests;     /* --measure: per pipeline */
	const char *corpus, *status;
};

/* ---- echo traffic ---- */

struct inflight {
	uint64_t t_submit;
	uint32_t len;
	int kind; /* 0 echo small, 1 checksum 1 KiB, 2 echo 4 KiB, 3 unknown pipeline */
	uint8_t in[4096];
	uint8_t out[4096];
};

static void
print_hist(const char *what, const struct nx_hist *h)
{
	printf("  latency (%s): min %llu ns, p50 %llu, p90 %llu, p99 %llu, p99.9 %llu, max %llu\n",
	       what, (unsigned long long)nx__hist_percentile(h, 0),
	       (unsigned long long)nx__hist_percentile(h, 50),
	       (unsigned long long)nx__hist_percentile(h, 90),
	       (unsigned long long)nx__hist_percentile(h, 99),
	       (unsigned long long)nx__hist_percentile(h, 99.9),
	       (unsigned long long)nx__hist_percentile(h, 100));
}

static int
run_echo(struct nx_client *c, const struct opts *o)
{
	uint64_t sent = 0, done = 0, ok = 0, wrong = 0, errs[32] = { 0 }, t0, t_next, now;
	uint64_t last_done = 0;
	struct nx_completion comps[64];
	struct inflight *fl;
	struct nx_hist *h;
	struct nx_rand rng;
	char what[64];
	unsigned i, window = o->window;
	int echo, sum, rc;

	echo = nx_pipeline_id(c, "echo");
	sum = nx_pipeline_id(c, "checksum");
	if (echo < 0 || sum < 0) {
		fprintf(stderr, "nxdemo: %s\n", nx_errmsg());
		return 1;
	}
	fl = calloc(window, sizeof *fl);
	h = malloc(sizeof *h);
	if (fl == NULL || h == NULL)
		return 1;
	nx__hist_init(h);
	nx__rand_seed(&rng, 2463534242u); /* the same mix of requests every run */
	printf("nxdemo: attached to '%s' (generation %llu), %u requests in flight, %u s\n",
	       o->instance, (unsigned long long)nx_generation(c), window, o->seconds);
	t0 = nx_now_ns();
	t_next = t0 + 1000000000ull;
	for (;;) {
		now = nx_now_ns();
		while (now - t0 < o->seconds * 1000000000ull && sent - done < window) {
			struct inflight *f = &fl[sent % window];
			uint32_t r = (uint32_t)(nx__rand_next(&rng) >> 32);
			struct nx_req req = { .in = f->in, .out = f->out, .user_data = sent };

			f->kind = r % 100 < 70 ? 0 : r % 100 < 90 ? 1 : r % 1000 < 999 ? 2 : 3;
			f->len = f->kind == 0 ? 32 : f->kind == 1 ? 1024 : f->kind == 2 ? 4096 : 8;
			for (i = 0; i < f->len; i++)
				f->in[i] = (uint8_t)(r + i * 31);
			req.in_len = f->len;
			req.out_cap = f->kind == 1 ? 4 : f->len;
			req.pipeline = (uint16_t)(f->kind == 1 ? sum : f->kind == 3 ? 4242 : echo);
			f->t_submit = now;
			rc = nx_submit(c, &req);
			if (rc == NX_EAGAIN)
				break;
			if (rc < 0) {
				fprintf(stderr, "nxdemo: submit: %s\n", nx_strerror(rc));
				return 1;
			}
			sent++;
		}
		if (done == sent)
			break;
		rc = nx_wait(c, comps, 64, o->timeout_s * 1000000000ull);
		if (rc < 0) {
			fprintf(stderr, "nxdemo: no answer within %u s: %s\n", o->timeout_s, nx_strerror(rc));
			return 1;
		}
		now = nx_now_ns();
		for (i = 0; i < (unsigned)rc; i++, done++) {
			struct inflight *f = &fl[comps[i].user_data % window];

			nx__hist_record(h, now - f->t_submit);
			if (comps[i].status < 0) {
				errs[-comps[i].status & 31]++;
				if (f->kind != 3)
					wrong++;
				continue;
			}
			if (f->kind == 1) {
				uint32_t crc = nx__crc32c(0, f->in, f->len);

				if (comps[i].out_len != 4 || memcmp(f->out, &crc, 4) != 0)
					wrong++;
				else
					ok++;
			} else if (f->kind == 3 || comps[i].out_len != f->len ||
				   memcmp(f->out, f->in, f->len) != 0) {
				wrong++;
			} else {
				ok++;
			}
		}
		if (now >= t_next) {
			printf("  %3llu s  %9llu requests/s\n", (unsigned long long)((now - t0) / 1000000000ull),
			       (unsigned long long)(done - last_done));
			fflush(stdout);
			last_done = done;
			t_next += 1000000000ull;
		}
	}
	now = nx_now_ns();
	printf("\nnxdemo: %llu requests in %.2f s (%.0f/s): %llu answered right, %llu wrong\n",
	       (unsigned long long)done, (double)(now - t0) / 1e9,
	       (double)done * 1e9 / (double)(now - t0), (unsigned long long)ok,
	       (unsigned long long)wrong);
	for (i = 1; i < 32; i++)
		if (errs[i] != 0)
			printf("  error answers %-10s %llu  (%s)\n", nx_err_name(-(int)i),
			       (unsigned long long)errs[i], nx_strerror(-(int)i));
	snprintf(what, sizeof what, "submit to answer, %u in flight", window);
	print_hist(what, h);
	free(fl);
	free(h);
	return wrong == 0 ? 0 : 1;
}

/* ---- retrieval traffic: queries from WordNet ---- */

#define R_QUERY_MAX NXR_Q_MAX /* a raw query, as the stages take it */
#define R_OUT_CAP 16384  /* k hits with titles fit many times over */
#define R_HOT 64         /* the queries everybody asks: the cache's share */

/* The seeds' targets for each pre-built pipeline (adaptive: its slowest
 * route's); --measure also shows the goal, a p99 100 times under them. */
static const struct rpipe {
	const char *name;
	uint64_t target_ns;
} rpipes[] = {
	{ "cache-only", 2000000 }, { "smart", 15000000 }, { "full", 40000000 },
	{ "maximum", 45000000 },   { "adaptive", 45000000 },
};
#define NPIPES (sizeof rpipes / sizeof rpipes[0])

struct words {
	char **lemma; /* "domestic dog" */
	char **gloss; /* its definition's first part */
	size_t n, cap;
	char hot[R_HOT][R_QUERY_MAX];
};

static const char *const stop[] = {
	"the", "and", "that", "with", "from", "which", "into", "used", "having", "being",
	"their", "other", "such", "especially", "usually", "something", "someone", "often",
	"made", "where", "when", "this", "these", "those", "than", "more", "most", "some",
};

static bool
stopword(const char *w, size_t n)
{
	size_t i;

	if (n < 4)
		return true;
	for (i = 0; i < sizeof stop / sizeof stop[0]; i++)
		if (strlen(stop[i]) == n && strncmp(stop[i], w, n) == 0)
			return true;
	return false;
}

/* One synset line of a data.* file: its first lemma and its gloss's first
 * part (up to the first ';'). Lines that start with a space are the
 * licence. */
static int
words_add(struct words *wd, const char *line)
{
	char lemma[128], gloss[256];
	const char *p = line, *g;
	size_t n, i;
	unsigned nw;

	if (line[0] == ' ')
		return 0;
	/* offset lex_filenum ss_type w_cnt(hex) word lex_id ... */
	for (i = 0; i < 3; i++) {
		p = strchr(p, ' ');
		if (p == NULL)
			return 0;
		p++;
	}
	nw = (unsigned)strtoul(p, (char **)&p, 16);
	if (nw == 0 || *p != ' ')
		return 0;
	p++;
	n = strcspn(p, " ");
	if (n == 0 || n >= sizeof lemma)
		return 0;
	for (i = 0; i < n && p[i] != '('; i++) /* "long(a)": the marker is not a word */
		lemma[i] = p[i] == '_' ? ' ' : (char)tolower((unsigned char)p[i]);
	lemma[i] = '\0';
	g = strstr(p, "| ");
	if (g == NULL || i == 0)
		return 0;
	g += 2;
	n = strcspn(g, ";\n");
	if (n >= sizeof gloss)
		n = sizeof gloss - 1;
	memcpy(gloss, g, n);
	gloss[n] = '\0';
	if (wd->n == wd->cap) {
		size_t cap = wd->cap ? wd->cap * 2 : 4096;
		char **l = realloc(wd->lemma, cap * sizeof *l), **gl;

		if (l == NULL)
			return -1;
		wd->lemma = l;
		gl = realloc(wd->gloss, cap * sizeof *gl);
		if (gl == NULL)
			return -1;
		wd->gloss = gl;
		wd->cap = cap;
	}
	wd->lemma[wd->n] = strdup(lemma);
	wd->gloss[wd->n] = strdup(gloss);
	if (wd->lemma[wd->n] == NULL || wd->gloss[wd->n] == NULL)
		return -1;
	wd->n++;
	return 0;
}

/* Every 5th synset of the four parts of speech: enough words for a
 * varied mix, a fraction of the corpus's memory. */
static int
words_load(struct words *wd, const char *dir)
{
	static const char *const parts[] = { "data.noun", "data.verb", "data.adj", "data.adv" };
	char path[4096], *line = NULL;
	size_t cap = 0, k = 0, i;

	for (i = 0; i < 4; i++) {
		FILE *f;

		snprintf(path, sizeof path, "%s/%s", dir, parts[i]);
		f = fopen(path, "re");
		if (f == NULL) {
			fprintf(stderr, "nxdemo: %s: %s (the corpus: scripts/install-deps.sh installs "
				"wordnet-base)\n", path, strerror(errno));
			free(line);
			return -1;
		}
		while (getline(&line, &cap, f) > 0)
			if (k++ % 5 == 0 && words_add(wd, line) < 0) {
				fclose(f);
				free(line);
				return -1;
			}
		fclose(f);
	}
	free(line);
	if (wd->n < 1000) {
		fprintf(stderr, "nxdemo: %s: only %zu synsets read\n", dir, wd->n);
		return -1;
	}
	return 0;
}

static void
words_free(struct words *wd)
{
	size_t i;

	for (i = 0; i < wd->n; i++) {
		free(wd->lemma[i]);
		free(wd->gloss[i]);
	}
	free(wd->lemma);
	free(wd->gloss);
}

/* The n-th word of a gloss that is not a stop word, or the first
 * content word at or after it; its length in *len. */
static const char *
content_word(const char *s, unsigned nth, size_t *len)
{
	const char *found = NULL;
	size_t flen = 0;
	unsigned k = 0;

	while (*s != '\0') {
		size_t n;

		while (*s != '\0' && !isalpha((unsigned char)*s))
			s++;
		n = 0;
		while (isalpha((unsigned char)s[n]))
			n++;
		if (n == 0)
			break;
		if (!stopword(s, n)) {
			found = s;
			flen = n;
			if (k++ >= nth)
				break;
		}
		s += n;
	}
	*len = flen;
	return found;
}

enum qkind { Q_WORD, Q_KEYWORDS, Q_PHRASE, Q_TYPO, Q_QUESTION, Q_HOT, Q_KINDS };

/* A fresh query of a kind, from the words r picks. @return its length */
static int
query_make(const struct words *wd, struct nx_rand *rng, enum qkind kind, char *q, size_t cap)
{
	uint64_t r = nx__rand_next(rng);
	size_t i = (size_t)(r % wd->n), n, n2, l;
	const char *lemma = wd->lemma[i], *gl = wd->gloss[i], *w, *w2;
	static const char *const ask[][2] = { { "what is ", "" }, { "what is a ", "" },
					      { "how does ", " work" },
					      { "where does the word ", " come from" },
					      { "why is it called ", "" } };
	char word[128];

	switch (kind) {
	case Q_KEYWORDS:
		w = content_word(gl, (unsigned)(r >> 32) % 3, &n);
		w2 = w != NULL ? content_word(w + n, (unsigned)(r >> 40) % 2, &n2) : NULL;
		if (w == NULL || w2 == NULL)
			return snprintf(q, cap, "%s", lemma);
		if ((r >> 48) % 2)
			return snprintf(q, cap, "%.*s %.*s %s", (int)n, w, (int)n2, w2,
					strchr(lemma, ' ') ? "" : lemma);
		return snprintf(q, cap, "%.*s %.*s", (int)n, w, (int)n2, w2);
	case Q_PHRASE:
		if (strchr(lemma, ' ') != NULL)
			return snprintf(q, cap, "\"%s\"", lemma);
		/* two or three words in a row from the definition */
		for (w = gl, l = 0; l < (r >> 32) % 4 && strchr(w, ' ') != NULL; l++)
			w = strchr(w, ' ') + 1;
		for (n = 0, l = 0; w[n] != '\0' && l < 2 + (r >> 40) % 2; n++)
			if (w[n + 1] == ' ' || w[n + 1] == '\0')
				l++;
		return snprintf(q, cap, "\"%.*s\"", (int)n, w);
	case Q_TYPO:
		n = strlen(lemma);
		if (n < 5 || n >= sizeof word)
			return snprintf(q, cap, "%s", lemma);
		memcpy(word, lemma, n + 1);
		l = 1 + (size_t)((r >> 32) % (n - 2));
		switch ((r >> 48) % 3) {
		case 0: { /* two letters swapped */
			char t = word[l];

			word[l] = word[l + 1];
			word[l + 1] = t;
			break;
		}
		case 1: /* one dropped */
			memmove(word + l, word + l + 1, n - l);
			break;
		default: /* one doubled */
			memmove(word + l + 1, word + l, n - l + 1);
			break;
		}
		return snprintf(q, cap, "%s", word);
	case Q_QUESTION:
		l = (r >> 32) % 5;
		return snprintf(q, cap, "%s%s%s", ask[l][0], lemma, ask[l][1]);
	default:
		return snprintf(q, cap, "%s", lemma);
	}
}

/* The mix: a third of the queries are repeats of a hot set (the cache's
 * work; the first ones most), the rest fresh, of every kind. */
static int
query_next(const struct words *wd, struct nx_rand *rng, char *q, size_t cap, enum qkind *kind)
{
	uint32_t r = (uint32_t)(nx__rand_next(rng) >> 32);
	unsigned pct = r % 100;

	if (pct < 33) {
		unsigned a = (r >> 8) % R_HOT, b = (r >> 16) % R_HOT;

		*kind = Q_HOT;
		return snprintf(q, cap, "%s", wd->hot[a * b / R_HOT]);
	}
	*kind = pct < 53 ? Q_WORD : pct < 68 ? Q_KEYWORDS : pct < 80 ? Q_PHRASE :
		pct < 90 ? Q_TYPO : Q_QUESTION;
	return query_make(wd, rng, *kind, q, cap);
}

static void
words_hot(struct words *wd, struct nx_rand *rng)
{
	unsigned i;

	for (i = 0; i < R_HOT; i++)
		query_make(wd, rng, (enum qkind)(i % Q_HOT), wd->hot[i], sizeof wd->hot[i]);
}

/* ---- per pipeline counts ---- */

struct pstat {
	int id;
	uint64_t requests, answers, errors, degraded, cached, misses, wrong;
	uint64_t errs[32];
	struct nx_hist *h;
};

struct rstate {
	struct pstat p[NPIPES];
	uint64_t submitted, completed, duplicates, unknown, kinds[Q_KINDS];
	uint64_t last_comp_ns, max_gap_ns, restart_gap_ns, restarts_seen, generation;
	uint64_t t0;
};

struct rfl {
	uint64_t seq, t_submit;
	unsigned pipe;
	bool busy;
	uint8_t out[R_OUT_CAP];
};

static volatile sig_atomic_t stop_now;

static void
on_stop(int sig)
{
	(void)sig;
	stop_now = 1;
}

/* One completion: which request it answers, exactly once, and what it
 * says. */
static void
account(struct rstate *s, struct rfl *fl, unsigned window, const struct nx_completion *cp,
	uint64_t now)
{
	struct rfl *f = &fl[cp->user_data % window];
	struct pstat *p;
	struct nxr_view v;

	if (cp->user_data != s->completed) {
		/* completions come in submission order: anything else is a
		 * request answered twice or one skipped */
		if (cp->user_data < s->completed)
			s->duplicates++;
		else
			s->unknown++;
		return;
	}
	if (!f->busy || f->seq != cp->user_data) {
		s->unknown++;
		return;
	}
	f->busy = false;
	s->completed++;
	p = &s->p[f->pipe];
	p->answers++;
	nx__hist_record(p->h, now - f->t_submit);
	if (cp->status < 0) {
		p->errors++;
		p->errs[-cp->status & 31]++;
		return;
	}
	if (cp->flags & NX_COMP_DEGRADED)
		p->degraded++;
	/* bounds-checked: the answer is whatever the stages wrote */
	if (nxr_parse(&v, f->out, cp->out_len) < 0) {
		p->wrong++; /* not the retrieval stages' answer */
		return;
	}
	if (v.flags & NXR_F_CACHED)
		p->cached++;
	else if (v.flags & NXR_F_MISS)
		p->misses++;
}

static void
status_write(const struct rstate *s, const char *path, struct nx_client *c, bool final)
{
	char tmp[4200];
	unsigned i, e;
	FILE *f;

	if (path == NULL)
		return;
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	f = fopen(tmp, "we");
	if (f == NULL)
		return;
	fprintf(f, "{\"final\":%s,\"t_s\":%.3f,\"generation\":%llu,\"submitted\":%llu,"
		   "\"completed\":%llu,\"outstanding\":%u,\"duplicates\":%llu,\"unknown\":%llu,"
		   "\"max_gap_ms\":%.3f,\"restart_gap_ms\":%.3f,\"restarts_seen\":%llu,\"pipelines\":{",
		final ? "true" : "false", (double)(nx_now_ns() - s->t0) / 1e9,
		(unsigned long long)s->generation, (unsigned long long)s->submitted,
		(unsigned long long)s->completed, nx_outstanding(c),
		(unsigned long long)s->duplicates, (unsigned long long)s->unknown,
		(double)s->max_gap_ns / 1e6, (double)s->restart_gap_ns / 1e6,
		(unsigned long long)s->restarts_seen);
	for (i = 0; i < NPIPES; i++) {
		const struct pstat *p = &s->p[i];
		bool first = true;

		fprintf(f, "%s\"%s\":{\"requests\":%llu,\"answers\":%llu,\"errors\":%llu,"
			   "\"degraded\":%llu,\"cached\":%llu,\"misses\":%llu,\"wrong\":%llu,"
			   "\"p50_ns\":%llu,\"p99_ns\":%llu,\"p999_ns\":%llu,\"target_ns\":%llu,\"err\":{",
			i ? "," : "", rpipes[i].name, (unsigned long long)p->requests,
			(unsigned long long)p->answers, (unsigned long long)p->errors,
			(unsigned long long)p->degraded, (unsigned long long)p->cached,
			(unsigned long long)p->misses, (unsigned long long)p->wrong,
			(unsigned long long)nx__hist_percentile(p->h, 50),
			(unsigned long long)nx__hist_percentile(p->h, 99),
			(unsigned long long)nx__hist_percentile(p->h, 99.9),
			(unsigned long long)rpipes[i].target_ns);
		for (e = 1; e < 32; e++)
			if (p->errs[e] != 0) {
				fprintf(f, "%s\"%s\":%llu", first ? "" : ",", nx_err_name(-(int)e),
					(unsigned long long)p->errs[e]);
				first = false;
			}
		fprintf(f, "}}");
	}
	fprintf(f, "}}\n");
	if (fclose(f) == 0)
		rename(tmp, path);
	else
		unlink(tmp);
}

static void
fmt_ns(char *b, size_t n, uint64_t ns)
{
	if (ns < 10000)
		snprintf(b, n, "%.2f us", (double)ns / 1e3);
	else if (ns < 1000000)
		snprintf(b, n, "%.1f us", (double)ns / 1e3);
	else
		snprintf(b, n, "%.2f ms", (double)ns / 1e6);
}

static void
summary_print(const struct rstate *s, double secs)
{
	unsigned i, e;

	printf("\n%-11s %8s %7s %8s %7s %10s %10s %10s %8s %12s\n", "pipeline", "requests", "errors",
	       "degraded", "cached", "p50", "p99", "p99.9", "target", "p99 under");
	for (i = 0; i < NPIPES; i++) {
		const struct pstat *p = &s->p[i];
		char p50[16], p99[16], p999[16], tgt[16];
		uint64_t v99 = nx__hist_percentile(p->h, 99);

		fmt_ns(p50, sizeof p50, nx__hist_percentile(p->h, 50));
		fmt_ns(p99, sizeof p99, v99);
		fmt_ns(p999, sizeof p999, nx__hist_percentile(p->h, 99.9));
		snprintf(tgt, sizeof tgt, "%.0f ms", (double)rpipes[i].target_ns / 1e6);
		printf("%-11s %8llu %7llu %8llu %7llu %10s %10s %10s %8s %7.0fx\n", rpipes[i].name,
		       (unsigned long long)p->requests, (unsigned long long)p->errors,
		       (unsigned long long)p->degraded, (unsigned long long)p->cached, p50, p99, p999,
		       tgt, v99 ? (double)rpipes[i].target_ns / (double)v99 : 0.0);
	}
	for (i = 0; i < NPIPES; i++)
		for (e = 1; e < 32; e++)
			if (s->p[i].errs[e] != 0)
				printf("  %-10s %-11s %llu  (%s)\n", rpipes[i].name, nx_err_name(-(int)e),
				       (unsigned long long)s->p[i].errs[e], nx_strerror(-(int)e));
	printf("queries: %llu words, %llu keyword queries, %llu quoted phrases, %llu misspelt, "
	       "%llu questions, %llu repeats of %u hot ones\n",
	       (unsigned long long)s->kinds[Q_WORD], (unsigned long long)s->kinds[Q_KEYWORDS],
	       (unsigned long long)s->kinds[Q_PHRASE], (unsigned long long)s->kinds[Q_TYPO],
	       (unsigned long long)s->kinds[Q_QUESTION], (unsigned long long)s->kinds[Q_HOT], R_HOT);
	printf("exactly once: %llu submitted in %.1f s, %llu completed once, %llu twice, %llu unknown, "
	       "%llu never\n", (unsigned long long)s->submitted, secs,
	       (unsigned long long)s->completed, (unsigned long long)s->duplicates,
	       (unsigned long long)s->unknown, (unsigned long long)(s->submitted - s->completed));
	printf("longest time without a completion: %.2f ms; nxd restarts seen: %llu (gap %.2f ms)\n",
	       (double)s->max_gap_ns / 1e6, (unsigned long long)s->restarts_seen,
	       (double)s->restart_gap_ns / 1e6);
}

static int
pipes_lookup(struct nx_client *c, struct rstate *s)
{
	unsigned i;

	for (i = 0; i < NPIPES; i++) {
		s->p[i].id = nx_pipeline_id(c, rpipes[i].name);
		if (s->p[i].id < 0) {
			fprintf(stderr, "nxdemo: pipeline '%s': %s (is nxd running with "
				"build/lib/retrieval.conf?)\n", rpipes[i].name, nx_errmsg());
			return -1;
		}
		s->p[i].h = malloc(sizeof *s->p[i].h);
		if (s->p[i].h == NULL)
			return -1;
		nx__hist_init(s->p[i].h);
	}
	return 0;
}

/* Submit request number s->submitted: a query of the mix to pipeline pi. */
static int
submit_one(struct nx_client *c, struct rstate *s, struct rfl *fl, unsigned window,
	   const struct words *wd, struct nx_rand *rng, unsigned pi, unsigned deadline_pct,
	   uint64_t now)
{
	struct rfl *f = &fl[s->submitted % window];
	char q[R_QUERY_MAX];
	enum qkind kind;
	int n = query_next(wd, rng, q, sizeof q, &kind), rc;
	struct nx_req req = { .in = q, .out = f->out, .out_cap = R_OUT_CAP,
			      .user_data = s->submitted, .pipeline = (uint16_t)s->p[pi].id,
			      .flags = NX_REQ_IDEMPOTENT };

	if (n <= 0)
		return 0;
	req.in_len = (uint32_t)n < sizeof q ? (uint32_t)n : sizeof q - 1;
	if (deadline_pct != 0)
		req.deadline_ns = now + rpipes[pi].target_ns * deadline_pct / 100;
	f->seq = s->submitted;
	f->t_submit = now;
	f->pipe = pi;
	f->busy = true;
	rc = nx_submit(c, &req);
	if (rc < 0) {
		f->busy = false;
		return rc;
	}
	s->submitted++;
	s->p[pi].requests++;
	s->kinds[kind]++;
	return 1;
}

/* Take what is ready (waiting up to wait_ns), and account for it. */
static int
collect(struct nx_client *c, struct rstate *s, struct rfl *fl, unsigned window, uint64_t wait_ns)
{
	struct nx_completion comps[64];
	uint64_t now, since;
	int rc, i;

	rc = wait_ns ? nx_wait(c, comps, 64, wait_ns) : nx_poll(c, comps, 64);
	if (rc == NX_ETIMEDOUT || rc == 0)
		return 0;
	if (rc < 0)
		return rc;
	now = nx_now_ns();
	/* the time without a completion this batch ends: from the last
	 * completion, or from when the oldest request went if it went later */
	since = s->last_comp_ns;
	if (s->completed < s->submitted && fl[s->completed % window].busy &&
	    fl[s->completed % window].t_submit > since)
		since = fl[s->completed % window].t_submit;
	if (now - since > s->max_gap_ns)
		s->max_gap_ns = now - since;
	if (nx_generation(c) != s->generation) {
		/* the first answers from a new nxd: the gap they end is the
		 * restart's, as this client saw it */
		s->generation = nx_generation(c);
		s->restarts_seen++;
		if (now - since > s->restart_gap_ns)
			s->restart_gap_ns = now - since;
	}
	s->last_comp_ns = now;
	for (i = 0; i < rc; i++)
		account(s, fl, window, &comps[i], now);
	return rc;
}

static int
retrieval_setup(struct nx_client *c, const struct opts *o, struct rstate *s, struct words *wd,
		struct rfl **fl, struct nx_rand *rng)
{
	memset(s, 0, sizeof *s);
	memset(wd, 0, sizeof *wd);
	if (pipes_lookup(c, s) < 0 || words_load(wd, o->corpus) < 0)
		return -1;
	nx__rand_seed(rng, 2463534242u); /* the same mix every run */
	words_hot(wd, rng);
	*fl = calloc(o->window, sizeof **fl);
	if (*fl == NULL)
		return -1;
	s->generation = nx_generation(c);
	return 0;
}

static void
retrieval_free(struct rstate *s, struct words *wd, struct rfl *fl)
{
	unsigned i;

	for (i = 0; i < NPIPES; i++)
		free(s->p[i].h);
	words_free(wd);
	free(fl);
}

/*
 * The demo's load: --rate requests a second (paced, so that latency is
 * the pipelines' and not a queue's), at most --window in flight, the
 * pipelines in turn, for --seconds or until SIGTERM/SIGINT; then every
 * outstanding request is waited for (up to --timeout without an answer).
 */
static int
run_retrieval(struct nx_client *c, const struct opts *o)
{
	struct rstate s;
	struct words wd;
	struct rfl *fl = NULL;
	struct nx_rand rng;
	uint64_t now, t_next_send, t_status, t_tick, gap_ns, last_done = 0, stuck_since = 0;
	unsigned window = o->window, turn = 0;
	int rc = 0;

	if (retrieval_setup(c, o, &s, &wd, &fl, &rng) < 0) {
		retrieval_free(&s, &wd, fl);
		return 1;
	}
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	gap_ns = o->rate ? 1000000000ull / o->rate : 0;
	printf("nxdemo: attached to '%s' (generation %llu): %u s of queries from %zu WordNet "
	       "synsets to %zu pipelines, %s, at most %u in flight, deadlines at %u%% of the "
	       "seed targets\n", o->instance, (unsigned long long)nx_generation(c), o->seconds,
	       wd.n, NPIPES, o->rate ? "paced" : "unpaced", window, o->deadline_pct);
	if (o->rate)
		printf("  %u requests/s\n", o->rate);
	fflush(stdout);
	s.t0 = s.last_comp_ns = t_next_send = t_status = nx_now_ns();
	t_tick = s.t0 + 1000000000ull;
	for (;;) {
		bool sending = !stop_now && nx_now_ns() - s.t0 < o->seconds * 1000000000ull;

		now = nx_now_ns();
		while (sending && now >= t_next_send && s.submitted - s.completed < window) {
			rc = submit_one(c, &s, fl, window, &wd, &rng, turn % NPIPES, o->deadline_pct, now);
			if (rc == NX_EAGAIN)
				break;
			if (rc < 0) {
				fprintf(stderr, "nxdemo: submit: %s\n", nx_strerror(rc));
				goto out;
			}
			turn++;
			t_next_send = gap_ns ? t_next_send + gap_ns : now;
			if (gap_ns && now > t_next_send + 100000000ull)
				t_next_send = now; /* far behind (nxd was down): no burst to catch up */
		}
		if (!sending && s.completed == s.submitted)
			break;
		if (s.completed < s.submitted) {
			uint64_t w = 1000000; /* at most 1 ms, to keep the pace */

			if (gap_ns && t_next_send > now && t_next_send - now < w)
				w = t_next_send - now;
			rc = collect(c, &s, fl, window, w ? w : 1);
			if (rc < 0) {
				fprintf(stderr, "nxdemo: wait: %s\n", nx_strerror(rc));
				goto out;
			}
			now = nx_now_ns();
			if (s.completed != last_done) {
				stuck_since = now;
				last_done = s.completed;
			} else if (stuck_since == 0) {
				stuck_since = now;
			} else if (now - stuck_since > o->timeout_s * 1000000000ull) {
				fprintf(stderr, "nxdemo: no answer within %u s (%u outstanding)\n",
					o->timeout_s, nx_outstanding(c));
				rc = -1;
				goto out;
			}
		} else if (sending && t_next_send > now) {
			struct timespec ts = { 0, (long)(t_next_send - now) };

			nanosleep(&ts, NULL);
			stuck_since = 0;
		}
		rc = 0;
		if (now - t_status >= 100000000ull) {
			status_write(&s, o->status, c, false);
			t_status = now;
		}
		if (now >= t_tick) {
			printf("  %3llu s  %6llu answers  generation %llu\n",
			       (unsigned long long)((now - s.t0) / 1000000000ull),
			       (unsigned long long)s.completed, (unsigned long long)nx_generation(c));
			fflush(stdout);
			t_tick += 1000000000ull;
		}
	}
out:
	now = nx_now_ns();
	status_write(&s, o->status, c, true);
	summary_print(&s, (double)(now - s.t0) / 1e9);
	retrieval_free(&s, &wd, fl);
	if (rc < 0 || s.duplicates || s.unknown || s.completed != s.submitted)
		return 1;
	return 0;
}

/*
 * The latency table: each pipeline alone, the same mix of queries, one
 * request at a time (the round trip: submit, run, answer), after a
 * warm-up; then with a window of requests in flight (--window), for the
 * requests a second one worker serves.
 */
static int
run_measure(struct nx_client *c, const struct opts *o)
{
	struct rstate s;
	struct words wd;
	struct rfl *fl = NULL;
	struct nx_rand rng;
	unsigned i, j, k, window = o->window;
	int rc = 0;

	if (retrieval_setup(c, o, &s, &wd, &fl, &rng) < 0) {
		retrieval_free(&s, &wd, fl);
		return 1;
	}
	printf("| pipeline | p50 | p99 | p99.9 | seed target | goal (p99 <= 1/100) | p99 under target "
	       "| cached | requests/s, 1 worker (%u in flight) |\n|---|---|---|---|---|---|---|---|---|\n",
	       window);
	/* cache-only last: it answers what the others put in the cache */
	for (j = 0; j < NPIPES && rc >= 0; j++) {
		struct pstat *p;

		i = (j + 1) % NPIPES;
		p = &s.p[i];
		rc = 0;
		uint64_t t0, n0, v99;
		char p50[16], p99[16], p999[16], goal[16], row[256];
		double rps;

		/* warm-up: the hot set into the cache, the index into the caches */
		for (k = 0; k < o->requests / 10 && rc >= 0; k++) {
			if ((k & 255) == 0)
				progress("  %s (%u of %u): warm-up, %u of %u", rpipes[i].name, j + 1,
					 (unsigned)NPIPES, k, o->requests / 10);
			rc = submit_one(c, &s, fl, 1, &wd, &rng, i, 0, nx_now_ns());
			while (rc >= 0 && s.completed < s.submitted)
				rc = collect(c, &s, fl, 1, 1000000000ull);
		}
		nx__hist_reset(p->h);
		p->cached = p->answers = 0;
		/* the round trip, one at a time */
		for (k = 0; k < o->requests && rc >= 0; k++) {
			if ((k & 255) == 0)
				progress("  %s (%u of %u): round trips, %u of %u", rpipes[i].name,
					 j + 1, (unsigned)NPIPES, k, o->requests);
			rc = submit_one(c, &s, fl, 1, &wd, &rng, i, 0, nx_now_ns());
			while (rc >= 0 && s.completed < s.submitted)
				rc = collect(c, &s, fl, 1, 1000000000ull);
		}
		if (rc < 0)
			break;
		fmt_ns(p50, sizeof p50, nx__hist_percentile(p->h, 50));
		v99 = nx__hist_percentile(p->h, 99);
		fmt_ns(p99, sizeof p99, v99);
		fmt_ns(p999, sizeof p999, nx__hist_percentile(p->h, 99.9));
		fmt_ns(goal, sizeof goal, rpipes[i].target_ns / 100);
		/* the row is printed whole, after the throughput: no progress
		 * line in the middle of it */
		snprintf(row, sizeof row, "| %s | %s | %s | %s | %.0f ms | %s: %s | %.0fx | %.0f%% |",
			 rpipes[i].name, p50, p99, p999, (double)rpipes[i].target_ns / 1e6, goal,
			 v99 * 100 <= rpipes[i].target_ns ? "met" : "missed",
			 (double)rpipes[i].target_ns / (double)v99,
			 p->answers ? 100.0 * (double)p->cached / (double)p->answers : 0.0);
		/* throughput: a window in flight */
		t0 = nx_now_ns();
		n0 = s.completed;
		for (k = 0; k < o->requests && rc >= 0;) {
			progress("  %s (%u of %u): %u in flight, %u of %u", rpipes[i].name, j + 1,
				 (unsigned)NPIPES, window, k, o->requests);
			while (k < o->requests && s.submitted - s.completed < window) {
				rc = submit_one(c, &s, fl, window, &wd, &rng, i, 0, nx_now_ns());
				if (rc == NX_EAGAIN)
					break;
				if (rc < 0)
					break;
				k++;
			}
			if (rc < 0 && rc != NX_EAGAIN)
				break;
			rc = collect(c, &s, fl, window, 1000000000ull);
		}
		while (rc >= 0 && s.completed < s.submitted)
			rc = collect(c, &s, fl, window, 1000000000ull);
		rps = (double)(s.completed - n0) * 1e9 / (double)(nx_now_ns() - t0);
		progress_clear();
		printf("%s %.0f |\n", row, rps);
		fflush(stdout);
	}
	progress_clear();
	for (i = 0; i < NPIPES; i++)
		if (s.p[i].errors != 0 || s.p[i].wrong != 0) {
			fprintf(stderr, "nxdemo: %s: %llu errors, %llu answers not NXR1\n", rpipes[i].name,
				(unsigned long long)s.p[i].errors, (unsigned long long)s.p[i].wrong);
			rc = -1;
		}
	retrieval_free(&s, &wd, fl);
	if (rc < 0) {
		fprintf(stderr, "nxdemo: measure: %s\n", nx_strerror(rc));
		return 1;
	}
	return 0;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: nxdemo [--instance NAME] [--seconds N] [--window W] [--timeout S]\n"
		   "              [--wait-ready[=S]]\n"
		   "       nxdemo --retrieval [--instance NAME] [--seconds N] [--rate R] [--window W]\n"
		   "              [--deadline-pct P] [--status FILE] [--corpus DIR] [--sleep]\n"
		   "       nxdemo --measure [--instance NAME] [--requests N] [--window W]\n"
		   "\n"
		   "Drive an nxd instance for N seconds (default 10) with W requests in flight\n"
		   "(default 8): small echoes inline, 1 KiB checksums and 4 KiB echoes through the\n"
		   "arena, and now and then a request for a pipeline that does not exist, to show\n"
		   "an error answer. Every answer is checked.\n"
		   "  --timeout S       give up when no answer comes for S seconds (default 5)\n"
		   "  --wait-ready[=S]  only wait (up to S seconds, default 10) until the instance\n"
		   "                    accepts clients\n"
		   "\n"
		   "--retrieval: the pipelines of retrieval.conf (cache-only, smart, full, maximum,\n"
		   "adaptive) in turn, queries made of WordNet words (single words, keywords, quoted\n"
		   "phrases, misspellings, questions, a third repeats of 64 hot ones), every one\n"
		   "idempotent with a deadline; counts per pipeline, exactly-once accounting across\n"
		   "nxd restarts, a summary at the end (SIGTERM or SIGINT: stop sending, drain).\n"
		   "  --rate R          requests a second (default 2000; 0: as fast as answered)\n"
		   "  --deadline-pct P  a request's deadline, in %% of its pipeline's seed target\n"
		   "                    (CacheOnly 2 ms, Smart 15, Full 40, Maximum 45; default 100;\n"
		   "                    0: none)\n"
		   "  --status FILE     the counts as JSON, rewritten (renamed into place) every\n"
		   "                    100 ms and at the end (\"final\": true)\n"
		   "  --corpus DIR      WordNet's data files (default /usr/share/wordnet)\n"
		   "  --sleep           wait for answers on a futex after 20 us (default: spin)\n"
		   "--measure: each pipeline alone, one request at a time, --requests N (default\n"
		   "20000) after N/10 of warm-up: p50/p99/p99.9 of the round trip against the\n"
		   "targets, as a Markdown table; then N with --window in flight: requests/s.\n");
}

int
main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "instance", required_argument, NULL, 'i' },
		{ "seconds", required_argument, NULL, 's' },
		{ "window", required_argument, NULL, 'w' },
		{ "wait-ready", optional_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, 't' },
		{ "retrieval", no_argument, NULL, 'R' },
		{ "measure", no_argument, NULL, 'M' },
		{ "rate", required_argument, NULL, 'q' },
		{ "deadline-pct", required_argument, NULL, 'D' },
		{ "requests", required_argument, NULL, 'n' },
		{ "status", required_argument, NULL, 'S' },
		{ "corpus", required_argument, NULL, 'C' },
		{ "sleep", no_argument, NULL, 'z' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .instance = "default", .seconds = 10, .window = 0, .ready_s = 10,
			  .timeout_s = 5, .rate = 2000, .deadline_pct = 100, .requests = 20000,
			  .corpus = "/usr/share/wordnet" };
	struct nx_open_opts oo = { 0 };
	struct nx_client *c;
	uint64_t t0;
	int rc, opt;

	while ((opt = getopt_long(argc, argv, "i:s:w:rh", lopts, NULL)) != -1) {
		switch (opt) {
		case 'i': o.instance = optarg; break;
		case 's': o.seconds = (unsigned)atoi(optarg); break;
		case 'w': o.window = (unsigned)atoi(optarg); break;
		case 't': o.timeout_s = (unsigned)atoi(optarg); break;
		case 'R': o.retrieval = true; break;
		case 'M': o.measure = true; break;
		case 'q': o.rate = (unsigned)atoi(optarg); break;
		case 'D': o.deadline_pct = (unsigned)atoi(optarg); break;
		case 'n': o.requests = (unsigned)atoi(optarg); break;
		case 'S': o.status = optarg; break;
		case 'C': o.corpus = optarg; break;
		case 'z': o.sleep_wait = true; break;
		case 'r':
			o.wait_ready = true;
			if (optarg != NULL)
				o.ready_s = (unsigned)atoi(optarg);
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (o.window == 0)
		o.window = o.measure ? 16 : 8;
	if (o.seconds == 0 || o.seconds > 3600 || o.window > 64 || o.timeout_s == 0 ||
	    o.timeout_s > 86400 || o.ready_s == 0 || o.ready_s > 86400 || o.rate > 1000000 ||
	    o.deadline_pct > 100000 || o.requests == 0 || o.requests > 100000000 ||
	    (o.retrieval && o.measure)) {
		fprintf(stderr, "nxdemo: --seconds 1..3600, --window 1..64, --timeout and "
			"--wait-ready 1..86400, --rate 0..1000000, --deadline-pct 0..100000, "
			"--requests 1..100000000; --retrieval or --measure\n");
		return 2;
	}
	progress_tty = isatty(STDOUT_FILENO) == 1;
	if (o.wait_ready) {
		t0 = nx_now_ns();
		do {
			if (nx_open(&c, o.instance, NULL) == 0) {
				nx_close(c);
				progress_clear();
				return 0;
			}
			progress("   waiting for nxd to serve '%s': %.1f s", o.instance,
				 (double)(nx_now_ns() - t0) / 1e9);
			usleep(10000);
		} while (nx_now_ns() - t0 < o.ready_s * 1000000000ull);
		progress_clear();
		fprintf(stderr, "nxdemo: not ready within %u s: %s\n", o.ready_s, nx_errmsg());
		return 1;
	}
	oo.wait = o.sleep_wait ? NX_WAIT_SLEEP : NX_WAIT_SPIN;
	rc = nx_open(&c, o.instance, &oo);
	if (rc < 0) {
		fprintf(stderr, "nxdemo: %s\n", nx_errmsg());
		return 1;
	}
	if (o.retrieval)
		rc = run_retrieval(c, &o);
	else if (o.measure)
		rc = run_measure(c, &o);
	else
		rc = run_echo(c, &o);
	nx_close(c);
	return rc;
}
