/* The normalizer: one definition of a word for the index and for queries. */
#include <string.h>

#include "stages/retrieval/nxr.h"

/* English function words, sorted (bsearch), and the pieces an apostrophe
 * leaves ("dog's" -> "dog" "s"). Question words are here too: the router
 * reads them from the raw text before they go. */
static const char *const stop_words[] = {
	"a", "about", "above", "after", "again", "against", "all", "also", "am", "an",
	"and", "any", "are", "as", "at", "be", "because", "been", "before", "being",
	"below", "between", "both", "but", "by", "can", "could", "d", "did", "do",
	"does", "doing", "down", "during", "each", "etc", "few", "for", "from",
	"further", "had", "has", "have", "having", "he", "her", "here", "hers",
	"herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it",
	"its", "itself", "just", "ll", "m", "me", "more", "most", "my", "myself", "no",
	"nor", "not", "now", "of", "off", "on", "once", "only", "or", "other", "our",
	"ours", "ourselves", "out", "over", "own", "re", "s", "same", "she", "should",
	"so", "some", "such", "t", "than", "that", "the", "their", "theirs", "them",
	"themselves", "then", "there", "these", "they", "this", "those", "through",
	"to", "too", "under", "until", "up", "ve", "very", "was", "we", "were", "what",
	"when", "where", "which", "while", "who", "whom", "whose", "why", "will",
	"with", "would", "you", "your", "yours", "yourself", "yourselves",
};

static const char *const question_words[] = {
	"how", "what", "when", "where", "which", "who", "whom", "whose", "why",
};

static int
word_cmp(const char *w, uint32_t n, const char *s)
{
	int c = strncmp(w, s, n);

	if (c != 0)
		return c;
	return s[n] == '\0' ? 0 : -1;
}

static int
in_sorted(const char *const *set, uint32_t count, const char *w, uint32_t n)
{
	uint32_t lo = 0, hi = count;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		int c = word_cmp(w, n, set[mid]);

		if (c == 0)
			return 1;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

int
nxr_is_stop(const char *w, uint32_t n)
{
	return n <= 10 && in_sorted(stop_words, sizeof stop_words / sizeof stop_words[0], w, n);
}

static inline int
word_byte(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
}

static inline char
lower(uint8_t c)
{
	return (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
}

uint32_t
nxr_normalize(const uint8_t *in, uint32_t len, char *out, uint32_t cap)
{
	char w[NXR_TERM_MAX];
	uint32_t i = 0, o = 0;

	while (i < len) {
		uint32_t n = 0, too_long = 0;

		while (i < len && !word_byte(in[i]))
			i++;
		while (i < len && word_byte(in[i])) {
			if (n < NXR_TERM_MAX)
				w[n++] = lower(in[i]);
			else
				too_long = 1;
			i++;
		}
		if (n == 0 || too_long || nxr_is_stop(w, n))
			continue;
		if (o + (o != 0) + n > cap)
			break;
		if (o != 0)
			out[o++] = ' ';
		memcpy(out + o, w, n);
		o += n;
	}
	return o;
}

uint8_t
nxr_classify_terms(uint32_t nterms)
{
	if (nterms >= 8)
		return NXR_ROUTE_COMPLEX;
	if (nterms >= 4)
		return NXR_ROUTE_PHRASE;
	if (nterms >= 2)
		return NXR_ROUTE_KEYWORD;
	return NXR_ROUTE_LOOKUP;
}

uint8_t
nxr_classify_raw(const uint8_t *in, uint32_t len)
{
	uint32_t i = 0, words = 0, quotes = 0, question = 0, last = 0;

	while (i < len) {
		char w[16];
		uint32_t n = 0, start;

		while (i < len && !word_byte(in[i])) {
			if (in[i] == '"')
				quotes++;
			else if (in[i] == '?')
				last = '?';
			else if (in[i] != ' ' && in[i] != '\t' && in[i] != '\n')
				last = in[i];
			i++;
		}
		start = i;
		while (i < len && word_byte(in[i])) {
			if (n < sizeof w)
				w[n] = lower(in[i]);
			n++;
			i++;
		}
		if (i == start)
			break;
		last = 'a';
		if (words == 0 && n <= sizeof w &&
		    in_sorted(question_words, sizeof question_words / sizeof question_words[0], w, n))
			question = 1;
		words++;
	}
	if (question || last == '?' || words >= 8)
		return NXR_ROUTE_COMPLEX;
	if (quotes >= 2 || words >= 4)
		return NXR_ROUTE_PHRASE;
	return nxr_classify_terms(words);
}

uint32_t
nxr_split(char *q, uint32_t qlen, const char **w, uint32_t *wlen, uint32_t max)
{
	uint32_t i = 0, n = 0;

	while (i < qlen && n < max) {
		uint32_t start;

		while (i < qlen && q[i] == ' ')
			i++;
		start = i;
		while (i < qlen && q[i] != ' ' && q[i] != '\0')
			i++;
		if (i == start)
			break;
		w[n] = q + start;
		wlen[n] = i - start;
		n++;
		if (i < qlen)
			q[i++] = '\0';
	}
	return n;
}
