/*
 * The dead-letter rings (layout in shm/abi/dlq.h): requests that failed
 * after their policies, kept with their reason for an operator to look
 * at, drain, or replay (nxctl dlq).
 *
 * The segment is nxd's alone (mode 0600) and outlives it, so that what a
 * crash interrupted can still be seen: a restarted nxd with the same
 * geometry re-attaches it.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/datapath/dlq.h"
#include "platform/nx_platform.h"

void
nx__dlq_name(char *buf, size_t len, const char *instance)
{
	snprintf(buf, len, "/nx.%s.dlq", instance);
}

static uint64_t
layout(uint32_t nrings, uint32_t entries, uint32_t *ring_bytes)
{
	*ring_bytes = (uint32_t)(sizeof(struct nx_dlq_ring) + (size_t)entries * sizeof(struct nx_dlq_entry));
	return (sizeof(struct nx_dlq_hdr) + (uint64_t)nrings * *ring_bytes + 4095) / 4096 * 4096;
}

static bool
header_matches(const struct nx_dlq *d, uint32_t nrings, uint32_t entries, uint64_t len)
{
	const struct nx_dlq_hdr *h = (const struct nx_dlq_hdr *)(const void *)d->base;
	uint32_t rb;

	return h->magic == NX_DLQ_MAGIC && h->abi_version == NX_SHM_VERSION &&
	       h->layout_bytes == len && h->nrings == nrings && h->entries == entries &&
	       layout(nrings, entries, &rb) == len && h->ring_bytes == rb &&
	       h->rings_off == sizeof(struct nx_dlq_hdr);
}

int
nx__dlq_open(struct nx_dlq *d, const char *instance, uint32_t nrings, uint32_t entries)
{
	char name[NX_SHM_NAME_MAX];
	uint32_t ring_bytes;
	uint64_t len = layout(nrings, entries, &ring_bytes);
	int64_t size;
	int fd, rc;

	memset(d, 0, sizeof *d);
	d->fd = -1;
	if (entries == 0 || (entries & (entries - 1)) != 0)
		return nx__err(NX_EINVAL, "dlq_entries %u: a power of two", entries);
	nx__dlq_name(name, sizeof name, instance);
	fd = nx__shm_open(name, true);
	if (fd >= 0 && (rc = nx__shm_own(fd, name, 0600)) < 0) {
		nx__fd_close(fd); /* planted by another uid: refused, never adopted */
		return rc;
	}
	if (fd >= 0) {
		size = nx__shm_size(fd);
		if (size == (int64_t)len && nx__shm_map((void **)&d->base, fd, len, true) == 0) {
			d->fd = fd;
			d->len = len;
			if (header_matches(d, nrings, entries, len)) {
				uint32_t r, k;

				d->nrings = nrings;
				d->entries = entries;
				d->rings_off = sizeof(struct nx_dlq_hdr);
				d->ring_bytes = ring_bytes;
				/* an entry a dead worker left half-written (odd): closed,
				 * and checked like any other when read */
				for (r = 0; r < nrings; r++)
					for (k = 0; k < entries; k++) {
						struct nx_dlq_entry *e = nx__dlq_entry(nx__dlq_ring(d, r),
										       entries, k);
						uint32_t seq = nx__load32(&e->seq);

						if (seq & 1)
							nx__store32(&e->seq, seq + 1);
					}
				d->reattached = true;
				return 0;
			}
			nx__shm_unmap(d->base, len);
			d->base = NULL;
		}
		nx__fd_close(fd);
		nx__log(NX_LOG_WARN, "dead-letter segment %s has another layout: replaced", name);
		nx__shm_unlink(name);
	}
	fd = nx__shm_create(name, len, 0600);
	if (fd < 0)
		return nx__err_ctx(fd, "dead-letter segment %s", name);
	rc = nx__shm_map((void **)&d->base, fd, len, true);
	if (rc < 0) {
		nx__fd_close(fd);
		nx__shm_unlink(name);
		return rc;
	}
	d->fd = fd;
	d->len = len;
	d->nrings = nrings;
	d->entries = entries;
	d->rings_off = sizeof(struct nx_dlq_hdr);
	d->ring_bytes = ring_bytes;
	{
		struct nx_dlq_hdr *h = (struct nx_dlq_hdr *)(void *)d->base;

		h->abi_version = NX_SHM_VERSION;
		h->layout_bytes = len;
		h->nrings = nrings;
		h->entries = entries;
		h->ring_bytes = ring_bytes;
		h->rings_off = sizeof *h;
		ck_pr_fence_store();
		h->magic = NX_DLQ_MAGIC;
	}
	return 0;
}

void
nx__dlq_unlink(const char *instance)
{
	char name[NX_SHM_NAME_MAX];

	nx__dlq_name(name, sizeof name, instance);
	nx__shm_unlink(name);
}

void
nx__dlq_close(struct nx_dlq *d, const char *instance, bool remove)
{
	char name[NX_SHM_NAME_MAX];

	if (d->base != NULL)
		nx__shm_unmap(d->base, d->len);
	nx__fd_close(d->fd);
	d->base = NULL;
	d->fd = -1;
	if (remove && instance != NULL) {
		nx__dlq_name(name, sizeof name, instance);
		nx__shm_unlink(name);
	}
}

/* An entry's words after its sequence word, one atomic access each. */
#define WORD0 (offsetof(struct nx_dlq_entry, n) / sizeof(uint64_t))
#define WORDS (sizeof(struct nx_dlq_entry) / sizeof(uint64_t))
#define PAYLOAD0 (offsetof(struct nx_dlq_entry, payload) / sizeof(uint64_t))
_Static_assert(offsetof(struct nx_dlq_entry, n) == 8, "the words follow seq and status");
_Static_assert(sizeof(struct nx_dlq_entry) % 8 == 0, "an entry is whole words");

/* Words [from, to) of an entry, from src (to - from words), one store each. */
static void
words_store(struct nx_dlq_entry *e, size_t from, size_t to, const void *src)
{
	uint64_t *d = (uint64_t *)(void *)e;
	const uint8_t *s = src;
	size_t i;

	for (i = from; i < to; i++) {
		uint64_t w;

		memcpy(&w, s + (i - from) * 8, 8);
		ck_pr_store_64(&d[i], w);
	}
}

static void
words_load(struct nx_dlq_entry *to, const struct nx_dlq_entry *e)
{
	const uint64_t *s = (const uint64_t *)(const void *)e;
	uint64_t *d = (uint64_t *)(void *)to;
	size_t i;

	to->seq = 0;
	to->status = (int32_t)ck_pr_load_32((const uint32_t *)&e->status);
	for (i = WORD0; i < WORDS; i++)
		d[i] = ck_pr_load_64(&s[i]);
}

void
nx__dlq_put(struct nx_dlq_ring *r, uint32_t entries, int32_t status, uint64_t at_ns,
	    uint64_t generation, int32_t pid, uint32_t channel, uint16_t flags, uint16_t slot,
	    const char *pipeline, const void *payload, uint32_t len, uint64_t *written,
	    uint64_t *dropped)
{
	const uint64_t n = r->head;
	struct nx_dlq_entry *e = nx__dlq_entry(r, entries, n);
	struct nx_dlq_entry tmp; /* its header only */
	uint32_t keep = len < NX_DLQ_PAYLOAD ? len : NX_DLQ_PAYLOAD, prev;
	uint64_t last = 0;
	size_t full, i;

	if (n - ck_pr_load_64(&r->tail) >= entries) {
		/* full: the oldest undrained entry goes, and is counted */
		nx__store64(&r->dropped, r->dropped + 1);
		(*dropped)++;
	}
	/* The header built aside, then everything stored word by word under
	 * the entry's sequence: a reader copies it the same way, so the two
	 * never race on plain memory (the seqlock tells a torn copy, the word
	 * accesses keep it defined). The client's bytes are read once, as
	 * they are stored; past them, only what the slot's previous entry
	 * held is cleared (its length is this worker's own word). */
	prev = nx__load32(&e->len);
	prev = prev < NX_DLQ_PAYLOAD ? prev : NX_DLQ_PAYLOAD;
	memset(&tmp, 0, offsetof(struct nx_dlq_entry, payload));
	tmp.status = status;
	tmp.n = n;
	tmp.at_ns = at_ns;
	tmp.generation = generation;
	tmp.pid = pid;
	tmp.channel = channel;
	tmp.len = len;
	tmp.flags = (uint16_t)(flags | (len > NX_DLQ_PAYLOAD ? NX_DLQ_F_TRUNCATED : 0));
	tmp.slot = slot;
	memcpy(tmp.pipeline, pipeline, sizeof tmp.pipeline);
	full = keep / 8;
	memcpy(&last, (const uint8_t *)payload + full * 8, keep % 8);
	nx__seq_write_begin(&e->seq);
	ck_pr_store_32((uint32_t *)&e->status, (uint32_t)tmp.status);
	words_store(e, WORD0, PAYLOAD0, (const uint8_t *)&tmp + WORD0 * 8);
	words_store(e, PAYLOAD0, PAYLOAD0 + full, payload);
	if (keep % 8 != 0)
		words_store(e, PAYLOAD0 + full, PAYLOAD0 + full + 1, &last);
	for (i = PAYLOAD0 + (keep + 7) / 8; i < PAYLOAD0 + (prev + 7) / 8; i++)
		ck_pr_store_64(&((uint64_t *)(void *)e)[i], 0);
	nx__seq_write_end(&e->seq);
	ck_pr_fence_store();
	nx__store64(&r->head, n + 1);
	(*written)++;
}

/* What a worker writes: a pipeline's name is 1 to 31 of [A-Za-z0-9_-]. */
static bool
name_ok(const char *s, size_t cap)
{
	size_t i;

	for (i = 0; i < cap && s[i] != '\0'; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-'))
			return false;
	return i > 0 && i < cap;
}

static bool
entry_ok(const struct nx_dlq_entry *e)
{
	const uint16_t known = NX_DLQ_F_TRUNCATED | NX_DLQ_F_IDEMPOTENT;

	return e->status < 0 && (e->flags & ~known) == 0 &&
	       (e->len > NX_DLQ_PAYLOAD) == ((e->flags & NX_DLQ_F_TRUNCATED) != 0) &&
	       name_ok(e->pipeline, sizeof e->pipeline);
}

enum nx_dlq_got
nx__dlq_read(const struct nx_dlq_ring *r, uint32_t entries, uint64_t n, struct nx_dlq_entry *out)
{
	const struct nx_dlq_entry *e = nx__dlq_entry((struct nx_dlq_ring *)(uintptr_t)r, entries, n);
	unsigned tries;

	for (tries = 0; tries < 100; tries++) {
		uint32_t v;

		if (!nx__seq_read_begin(&e->seq, &v))
			return NX_DLQ_CORRUPT; /* left half-written (a worker died in it) */
		words_load(out, e);
		if (!nx__seq_read_retry(&e->seq, v)) {
			if (out->n != n)
				return NX_DLQ_GONE; /* overwritten by a later one */
			return entry_ok(out) ? NX_DLQ_OK : NX_DLQ_CORRUPT;
		}
	}
	return NX_DLQ_GONE;
}

uint64_t
nx__dlq_first(const struct nx_dlq_ring *r, uint32_t entries)
{
	uint64_t head = ck_pr_load_64(&r->head), tail = ck_pr_load_64(&r->tail);

	return head - tail > entries ? head - entries : tail;
}
