/*
 * Linux cpulists ("0-3,6,8-9"): the format of the kernel's CPU lists
 * under /sys/devices/system/cpu, of isolcpus= and of nxd's --cpus.
 * Portable text parsing, no OS call: the platform reads the kernel's
 * lists with it, core/ the operator's.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "../nx_platform.h"

/* Length for "%.*s" of at most max characters. */
static int
clip(size_t len, int max)
{
	return len > (size_t)max ? max : (int)len;
}

static int
cpulist_bad(const char *s, size_t slen, const char *tok, size_t toklen, const char *why)
{
	return nx__err(NX_EINVAL, "cpulist \"%.*s\": %s \"%.*s\"", clip(slen, 128), s, why,
		       clip(toklen, 64), tok);
}

/* Parse a decimal CPU number at *p (before end); 1 on success, 0 when absent. */
static int
cpulist_num(const char **p, const char *end, long *out, bool *too_big)
{
	const char *q = *p;
	long v = 0;

	if (q == end || !isdigit((unsigned char)*q))
		return 0;
	for (; q < end && isdigit((unsigned char)*q); q++) {
		if (v < NX_CPU_LIMIT)
			v = v * 10 + (*q - '0');
		if (v >= NX_CPU_LIMIT)
			*too_big = true;
	}
	*p = q;
	*out = v;
	return 1;
}

/*
 * Parse a Linux cpulist into cpus[] (at most max, in the given order,
 * duplicates kept) or, when bits is given, into that bitmap. Blanks
 * around the list and around each entry are ignored; an empty list is 0
 * CPUs. Returns how many CPUs went to cpus[], or the bits set in bits.
 */
static int
cpulist_scan(const char *s, int *cpus, int max, uint64_t *bits)
{
	const char *p, *end, *list, *comma;
	size_t listlen;
	int n = 0;

	list = s;
	while (isspace((unsigned char)*list))
		list++;
	end = list + strlen(list);
	while (end > list && isspace((unsigned char)end[-1]))
		end--;
	listlen = (size_t)(end - list);
	if (listlen == 0)
		goto done;
	for (p = list;; p = comma + 1) {
		const char *tok, *tend, *q;
		bool too_big = false;
		long lo, hi;

		comma = memchr(p, ',', (size_t)(end - p));
		tend = comma != NULL ? comma : end;
		tok = p;
		while (tok < tend && (*tok == ' ' || *tok == '\t'))
			tok++;
		while (tend > tok && (tend[-1] == ' ' || tend[-1] == '\t'))
			tend--;
		if (tok == tend)
			return nx__err(NX_EINVAL, "cpulist \"%.*s\": empty entry at offset %d",
				       clip(listlen, 128), list, (int)(p - list));
		q = tok;
		if (!cpulist_num(&q, tend, &lo, &too_big))
			return cpulist_bad(list, listlen, tok, (size_t)(tend - tok), "bad entry");
		hi = lo;
		if (q < tend && *q == '-') {
			q++;
			if (!cpulist_num(&q, tend, &hi, &too_big))
				return cpulist_bad(list, listlen, tok, (size_t)(tend - tok),
						   "bad range");
		}
		if (q != tend)
			return cpulist_bad(list, listlen, tok, (size_t)(tend - tok), "bad entry");
		if (too_big)
			return cpulist_bad(list, listlen, tok, (size_t)(tend - tok),
					   "cpu number above 65535 in");
		if (hi < lo)
			return cpulist_bad(list, listlen, tok, (size_t)(tend - tok),
					   "range goes backwards:");
		if (bits == NULL) {
			if (hi - lo + 1 > (long)max - n)
				return nx__err(NX_EINVAL,
					       "cpulist \"%.*s\": more than %d CPUs (at \"%.*s\")",
					       clip(listlen, 128), list, max,
					       clip((size_t)(tend - tok), 64), tok);
			for (long c = lo; c <= hi; c++)
				cpus[n++] = (int)c;
		} else {
			for (long c = lo; c <= hi; c++)
				bits[c / 64] |= UINT64_C(1) << (c % 64);
		}
		if (comma == NULL)
			break;
	}
done:
	if (bits != NULL)
		for (int w = 0; w < NX_CPU_LIMIT / 64; w++)
			n += __builtin_popcountll(bits[w]);
	return n;
}

int
nx__cpulist_parse(const char *s, int *cpus, int max)
{
	if (s == NULL)
		return nx__err(NX_EINVAL, "cpulist: NULL");
	if (max < 0 || (cpus == NULL && max > 0))
		return nx__err(NX_EINVAL, "cpulist: no room for the CPUs");
	return cpulist_scan(s, cpus, max, NULL);
}

int
nx__cpulist_bits(const char *s, uint64_t *bits)
{
	if (s == NULL || bits == NULL)
		return nx__err(NX_EINVAL, "cpulist: NULL");
	return cpulist_scan(s, NULL, 0, bits);
}
