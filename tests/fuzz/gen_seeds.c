/*
 * gen_seeds - writes the fuzz targets' seed corpora (tests/fuzz/corpus/
 * <name>/) from the real structures, so that a seed's layout follows the
 * ABI headers: `make fuzz-seeds` rebuilds and reruns it. The seeds are
 * checked in; running this again rewrites the ones it names and leaves
 * any other file alone.
 *
 *   gen_seeds DIR      (DIR is tests/fuzz/corpus)
 */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <nx/nx_stage.h>

#include "core/datapath/dlq.h"
#include "shm/shm_internal.h"
#include "fuzz_common.h"

static const char *root;

/* ---- an output buffer ---- */

struct out {
	uint8_t *p;
	size_t len, cap;
};

static void
put(struct out *o, const void *p, size_t n)
{
	if (o->len + n > o->cap) {
		o->cap = (o->len + n) * 2 + 256;
		o->p = realloc(o->p, o->cap);
		if (o->p == NULL) {
			perror("gen_seeds");
			exit(1);
		}
	}
	memcpy(o->p + o->len, p, n);
	o->len += n;
}

static void
put8(struct out *o, uint8_t v)
{
	put(o, &v, 1);
}

static void
put16(struct out *o, uint16_t v)
{
	put8(o, (uint8_t)v);
	put8(o, (uint8_t)(v >> 8));
}

static void
put64(struct out *o, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		put8(o, (uint8_t)(v >> (8 * i)));
}

static void
save(const char *target, const char *name, const void *p, size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", root, target);
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

static void
save_out(const char *target, const char *name, struct out *o)
{
	save(target, name, o->p, o->len);
	free(o->p);
	memset(o, 0, sizeof *o);
}

static void
save_str(const char *target, const char *name, const char *s)
{
	save(target, name, s, strlen(s));
}

/* text, a NUL, then a payload */
static void
save_spec(const char *name, const char *text, const char *payload)
{
	struct out o = { 0 };

	put(&o, text, strlen(text));
	if (payload != NULL) {
		put8(&o, 0);
		put(&o, payload, strlen(payload));
	}
	save_out("spec", name, &o);
}

/* ---- spec ---- */

static void
spec_seeds(void)
{
	save_spec("echo", "graph = echo\n", "hello");
	save_spec("seq-tags", "graph = seq(a, b, c)\na.stage = tag\na.text = A\nb.stage = tag\n"
		  "b.text = B\nc.stage = tag\nc.text = C\n", "in:");
	save_spec("seq-builtins", "graph = seq(noop, echo, checksum)\n", "abc");
	save_spec("branch", "graph = branch(x, y, z; by: p)\np.stage = pick\np.child = 1\n"
		  "x.stage = tag\nx.text = X\ny.stage = tag\ny.text = Y\nz.stage = echo\n", "2abc");
	save_spec("fanout", "graph = fanout(a, b, c; merge: m)\na.stage = tag\na.text = 1\n"
		  "b.stage = checksum\nc.stage = noop\nm.stage = concat\nm.sep = ,\n", "data");
	save_spec("split", "graph = split(v1 90, v2 10; key: request)\nv1.stage = echo\n"
		  "v2.stage = tag\nv2.text = 2\n", "x");
	save_spec("split-client", "graph = split(a 1, b 1, c 1000000; key: client)\n"
		  "a.stage = echo\nb.stage = noop\nc.stage = checksum\n", "k");
	save_spec("rr", "graph = roundrobin(w1, w2, w3)\nw1.stage = echo\nw2.stage = noop\n"
		  "w3.stage = tag\nw3.text = t\n", "abc");
	save_spec("named-nodes", "# README's lookup, with built-in stages\n"
		  "graph = seq(parse, route, fmt)\n"
		  "route = branch(fast, slow; by: pick)      ; a named node\n"
		  "slow = fanout(db_a, db_b; merge: first)\n"
		  "pick.stage = pick\nparse.stage = noop\nfmt.stage = tag\nfmt.text = .\n"
		  "fast.stage = echo\ndb_a.stage = echo\ndb_b.stage = checksum\n"
		  "first.stage = concat\nfirst.sep = |\n", "1q");
	save_spec("nested", "graph = seq(rr(a, seq(b, c)), split(d 3, fanout(e, f; merge: m) 1), "
		  "branch(g, h; by: p))\na.stage = echo\nb.stage = tag\nb.text = b\nc.stage = noop\n"
		  "d.stage = checksum\ne.stage = echo\nf.stage = tag\nf.text = f\nm.stage = concat\n"
		  "g.stage = echo\nh.stage = noop\np.stage = pick\n", "0z");
	save_spec("policies", "graph = seq(a, b)\na.stage = fail\na.percent = 50\n"
		  "a.breaker = count\na.breaker-window = 10\na.breaker-min-calls = 2\n"
		  "a.breaker-failure-pct = 50\na.breaker-slow-pct = 80\na.breaker-slow-us = 200\n"
		  "a.breaker-wait-ms = 1000\na.breaker-half-open = 5\na.degraded = skip\n"
		  "b.stage = echo\nb.budget-us = 100\nb.over-budget = fail\nb.degraded = cache\n"
		  "b.cache-entries = 4\nb.cache-bytes = 64\n", "abc");
	save_spec("fallback", "graph = a\na.stage = fail\na.breaker = time\na.degraded = fallback\n"
		  "a.fallback = tag\na.contain-faults = on\n", "x");
	save_spec("plugin", "graph = seq(p, echo)\np.stage = json-parse\n"
		  "p.plugin = /usr/lib/nexus/json.so\np.max_depth = 8\n", NULL);
	save_spec("comments", "# a comment\n; another\n\n   graph   =   seq( echo ,noop )   \n", "");
	save_spec("deep", "graph = seq(seq(seq(seq(seq(seq(seq(seq(echo))))))))\n", "d");
	save_spec("too-deep", "graph = seq(seq(seq(seq(seq(seq(seq(seq(seq(echo)))))))))\n", NULL);
	save_spec("cycle", "graph = n\nn = seq(m, echo)\nm = seq(n)\n", NULL);
	save_spec("bad-syntax", "graph = seq(a,\na.stage = echo\nb = branch(x; by: )\n", NULL);
	save_spec("bad-kind", "graph = loop(echo)\n", NULL);
	save_spec("option-node", "graph = branch(a, b; by: sel)\nsel = seq(p)\np.stage = pick\n"
		  "a.stage = echo\nb.stage = echo\n", NULL);
}

/* ---- conf ---- */

static void
conf_seeds(void)
{
	save_str("conf", "readme", "[nxd]\nworkers = 1\nmax-slots = 256        ; stage slots\n"
		 "scratch = 1m\n\n[pipeline.lookup]\ngraph = seq(parse, route, fmt)\n"
		 "route = branch(fast, slow; by: pick)\nslow = fanout(db_a, db_b; merge: first)\n"
		 "pick.stage = pick\nparse.stage = noop\nfmt.stage = tag\nfmt.text = !\n"
		 "fast.stage = echo\ndb_a.stage = echo\ndb_b.stage = checksum\n"
		 "first.stage = concat\n");
	save_str("conf", "all-settings", "[nxd]\ninstance = fz\nworkers = 2\ncpus = 0-1\n"
		 "idle = sleep\nmax_channels = 128\nring_size = 1024\narena = 2m\nmax-payload = 32k\n"
		 "keep = yes\nmlock = no\nquiet = on\nrt_prio = 10\nallow_gid = 100\n"
		 "isolated = 2,3,5-7\nplugin_dirs = /usr/lib/nexus:/opt/nx\nstop_timeout = 10\n"
		 "max_slots = 64\nscratch = 4k\nstage_state = 0\nstage_timing = 16\n"
		 "rate_limit = 1000\nrate_burst = 100\ndlq_entries = 1024\n");
	save_str("conf", "policies", "[pipeline.fz]\ngraph = seq(a, b)\na.stage = echo\n"
		 "a.breaker = count\na.breaker-window = 20\na.breaker-min-calls = 10\n"
		 "a.breaker-failure-pct = 50\na.breaker-wait-ms = 1000\na.budget-us = 50\n"
		 "a.over-budget = slow\na.degraded = fallback\na.fallback = noop\n"
		 "b.stage = tag\nb.text = x\nb.degraded = cache\nb.cache-entries = 8\n");
	save_str("conf", "two-pipelines", "[pipeline.a]\ngraph = echo\n[pipeline.b]\n"
		 "graph = rr(x, y)\nx.stage = echo\ny.stage = noop\n[pipeline.a]\n"
		 "graph = checksum\n");
	save_str("conf", "errors", "[nxd]\nworkers = many\nring_size = 1000\n[other]\nx = 1\n");
	save_str("conf", "syntax", "[nxd\nworkers 1\n= 2\n");
	save_str("conf", "sizes", "[nxd]\narena = 1g\nmax_payload = 512m\nscratch = 0x1000\n"
		 "max_channels = 65536\nrate_limit = 1000000000\nallow_gid = 4294967295\n");
	{
		static const char nul[] = "[nxd]\nworkers = 1\0\n";

		save("conf", "nul-byte", nul, sizeof nul - 1);
	}
}

/* ---- elf ---- */

/* A minimal x86-64 shared object: an ELF header, sections NULL,
 * .shstrtab and .nx_plugin (holding a mark), no program headers. */
static void
elf_seed(const char *name, uint16_t type, uint16_t machine, const char *sect, uint32_t abi,
	 uint32_t sect_type)
{
	static const char strtab[] = "\0.shstrtab\0.nx_plugin\0.other\0";
	struct nx_plugin_mark mark = { { 'N', 'X', 'P', 'L', 'U', 'G', 'I', 'N' }, abi, 0 };
	struct out o = { 0 };
	Elf64_Ehdr eh;
	Elf64_Shdr sh[3];
	uint32_t name_off = strcmp(sect, ".other") == 0 ? 22 : 11;
	uint64_t str_at = sizeof eh, mark_at = (str_at + sizeof strtab + 7) / 8 * 8,
		 sh_at = mark_at + sizeof mark;

	memset(&eh, 0, sizeof eh);
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = type;
	eh.e_machine = machine;
	eh.e_version = EV_CURRENT;
	eh.e_shoff = sh_at;
	eh.e_ehsize = sizeof eh;
	eh.e_shentsize = sizeof sh[0];
	eh.e_shnum = 3;
	eh.e_shstrndx = 1;
	memset(sh, 0, sizeof sh);
	sh[1].sh_name = 1;
	sh[1].sh_type = SHT_STRTAB;
	sh[1].sh_offset = str_at;
	sh[1].sh_size = sizeof strtab;
	sh[1].sh_addralign = 1;
	sh[2].sh_name = name_off;
	sh[2].sh_type = sect_type;
	sh[2].sh_flags = SHF_ALLOC;
	sh[2].sh_offset = mark_at;
	sh[2].sh_size = sizeof mark;
	sh[2].sh_addralign = 8;
	put(&o, &eh, sizeof eh);
	put(&o, strtab, sizeof strtab);
	while (o.len < mark_at)
		put8(&o, 0);
	put(&o, &mark, sizeof mark);
	put(&o, sh, sizeof sh);
	save_out("elf", name, &o);
}

static void
elf_seeds(void)
{
	elf_seed("plugin", ET_DYN, EM_X86_64, ".nx_plugin", NX_STAGE_ABI, SHT_PROGBITS);
	elf_seed("wrong-abi", ET_DYN, EM_X86_64, ".nx_plugin", NX_STAGE_ABI + 1, SHT_PROGBITS);
	elf_seed("nobits", ET_DYN, EM_X86_64, ".nx_plugin", NX_STAGE_ABI, SHT_NOBITS);
	elf_seed("no-section", ET_DYN, EM_X86_64, ".other", NX_STAGE_ABI, SHT_PROGBITS);
	elf_seed("executable", ET_EXEC, EM_X86_64, ".nx_plugin", NX_STAGE_ABI, SHT_PROGBITS);
	elf_seed("aarch64", ET_DYN, EM_AARCH64, ".nx_plugin", NX_STAGE_ABI, SHT_PROGBITS);
	save_str("elf", "not-elf", "#!/bin/sh\necho not a plugin\n");
	{
		uint8_t e32[52] = { 0x7f, 'E', 'L', 'F', ELFCLASS32, ELFDATA2LSB, EV_CURRENT };

		save("elf", "elf32-header", e32, sizeof e32);
	}
}

/* ---- dlq ---- */

static uint64_t
dlq_layout(uint32_t nrings, uint32_t entries, uint32_t *ring_bytes)
{
	*ring_bytes = (uint32_t)(sizeof(struct nx_dlq_ring) + (size_t)entries * sizeof(struct nx_dlq_entry));
	return (sizeof(struct nx_dlq_hdr) + (uint64_t)nrings * *ring_bytes + 4095) / 4096 * 4096;
}

/*
 * A segment as workers leave it: puts[r] entries put into ring r (more
 * than the ring holds: the oldest dropped), tails[r] drained, with
 * payloads of the lengths lens[] in turn. Then the input prefix.
 */
static void
dlq_seed(const char *name, uint8_t geom, uint8_t flags, uint8_t id_ring, uint64_t id_n,
	 const unsigned *puts, const uint64_t *tails, const uint32_t *lens, unsigned nlens,
	 size_t keep)
{
	uint32_t nrings = 1 + (geom & 3u), entries = 1u << ((geom >> 2) & 3u), rb, r;
	uint64_t len = dlq_layout(nrings, entries, &rb);
	uint8_t *seg = calloc(1, len), payload[700];
	struct nx_dlq d;
	struct out o = { 0 };
	unsigned k = 0;

	memset(&d, 0, sizeof d);
	d.base = seg;
	d.len = len;
	d.nrings = nrings;
	d.entries = entries;
	d.rings_off = sizeof(struct nx_dlq_hdr);
	d.ring_bytes = rb;
	for (size_t i = 0; i < sizeof payload; i++)
		payload[i] = (uint8_t)(i * 7 + 1);
	{
		struct nx_dlq_hdr *h = (struct nx_dlq_hdr *)(void *)seg;

		h->magic = NX_DLQ_MAGIC;
		h->abi_version = NX_SHM_VERSION;
		h->layout_bytes = len;
		h->nrings = nrings;
		h->entries = entries;
		h->ring_bytes = rb;
		h->rings_off = sizeof *h;
	}
	for (r = 0; r < nrings; r++) {
		struct nx_dlq_ring *ring = nx__dlq_ring(&d, r);
		uint64_t written = 0, dropped = 0;
		char pipe[NX_PIPE_NAME_MAX];

		for (unsigned i = 0; i < puts[r]; i++, k++) {
			memset(pipe, 0, sizeof pipe);
			snprintf(pipe, sizeof pipe, i % 2 ? "echo" : "fz-pipe_%u", r);
			nx__dlq_put(ring, entries, i % 3 ? NX_ESTAGE : NX_ETIMEDOUT, 1000000ull * i,
				    7, 4242, r, (i % 4 == 0) ? NX_DLQ_F_IDEMPOTENT : 0,
				    i % 5 ? (uint16_t)i : 0xffff, pipe, payload, lens[k % nlens],
				    &written, &dropped);
		}
		ring->tail = tails[r];
	}
	put8(&o, geom);
	put8(&o, flags);
	put8(&o, id_ring);
	put64(&o, id_n);
	put(&o, seg, keep < len ? keep : len);
	save_out("dlq", name, &o);
	free(seg);
}

static void
dlq_seeds(void)
{
	static const uint32_t lens[] = { 5, 0, 512, 513, 64, 700, 1 };
	static const unsigned none[4] = { 0 }, few[4] = { 3, 1, 0, 2 }, full[4] = { 11, 8, 4, 9 };
	static const uint64_t zero[4] = { 0 }, drained[4] = { 2, 0, 0, 1 };

	/* geometry: nrings 1 + (g & 3), entries 1 << ((g >> 2) & 3) */
	dlq_seed("empty", 0x0d, 0, 0, 0, none, zero, lens, 7, 64);
	dlq_seed("one-ring", 0x08, 0, 0, 1, few, zero, lens, 7, 4096);
	dlq_seed("four-rings", 0x0f, 0, 3, 2, few, zero, lens, 7, 1u << 20);
	dlq_seed("overwritten", 0x0e, 0x02, 1, 3, full, zero, lens, 7, 1u << 20);
	dlq_seed("drained", 0x0b, 0x02, 0, 2, few, drained, lens, 7, 1u << 20);
	dlq_seed("truncated", 0x04, 0x02, 0, 0, few, zero, lens + 2, 2, 1u << 20);
	dlq_seed("raw-header", 0x05, 0x01, 0, 0, few, zero, lens, 7, 1u << 20);
}

/* ---- health ---- */

static void
health_linear(const char *name, uint8_t mode, uint8_t ga, uint8_t pipes, uint8_t gb,
	      uint32_t nworkers, bool live)
{
	struct nx_health_geom g;
	struct out o = { 0 };
	uint8_t *seg;
	struct nx_health_hdr *h;
	uint32_t i;

	nx__health_geom(&g, 1 + (ga & 3u), ga >> 5, pipes & 7u, (ga >> 2) & 7u);
	seg = calloc(1, g.layout_bytes);
	h = (struct nx_health_hdr *)(void *)seg;
	h->generation = 3;
	h->state = live ? NX_INST_RUNNING : NX_INST_STOPPED;
	h->start_ns = 1000;
	h->start_wall_ns = 1700000000000000000ull;
	h->nworkers = nworkers;
	h->idle = 1;
	h->ring_size = 256;
	h->arena_bytes = 1 << 20;
	h->max_payload = 65536;
	h->restarts = 2;
	h->stop_wall_ns = live ? 0 : 1700000001000000000ull;
	for (i = 0; i < g.max_workers; i++) {
		struct nx_health_worker *w = NX_AT(struct nx_health_worker, seg,
						   g.workers_off + i * sizeof *w);

		w->heartbeat_ns = 5000 + i;
		w->loops = 100;
		w->taken = w->answered = 50 + i;
		w->busy_ns = 12345;
		w->state = NX_WORKER_RUNNING;
		w->cpu = (int32_t)i;
		w->tid = 100 + (int32_t)i;
		w->errors[NX_WERR_STAGE] = 2;
	}
	for (i = 0; i < g.max_channels; i++) {
		struct nx_health_chan *c = NX_AT(struct nx_health_chan, seg,
						 g.channels_off + i * sizeof *c);

		c->state = i % 2 ? NX_CHAN_ORPHANED : NX_CHAN_ATTACHED;
		c->pid = 4242;
		c->taken = c->answered = 10;
		c->ring_size = 256;
		c->rate = 100;
		c->burst = 10;
		c->attach_count = 1;
	}
	for (i = 0; i < g.max_pipelines; i++) {
		struct nx_health_pipe *p = NX_AT(struct nx_health_pipe, seg,
						 g.pipelines_off + i * sizeof *p);

		snprintf(p->name, sizeof p->name, "pipe\"%u\\", i);
		p->active = 1;
		p->nstages = 2;
		p->version = 1;
	}
	for (i = 0; i < g.max_slots; i++) {
		struct nx_health_slot *s = NX_AT(struct nx_health_slot, seg,
						 g.slots_off + i * sizeof *s);

		s->state = 1;
		s->version = 2;
		snprintf(s->name, sizeof s->name, "slot%u", i);
		snprintf(s->pipe, sizeof s->pipe, "pipe%u", i);
		snprintf(s->stage, sizeof s->stage, "echo");
		snprintf(s->plugin, sizeof s->plugin, i % 2 ? "x\n.so" : "");
		for (uint32_t w = 0; w < g.max_workers; w++) {
			struct nx_health_slot_stats *st = NX_AT(struct nx_health_slot_stats, seg,
				g.slot_stats_off + ((size_t)w * g.max_slots + i) * sizeof *st);

			st->calls = 100;
			st->failures = 10 * i;
			st->consec_failures = i;
			st->breaker = i % 3;
			st->quarantined = i == 2;
		}
	}
	for (i = 0; i < NX_RESTART_LOG; i++) {
		struct nx_health_restart *rs = NX_AT(struct nx_health_restart, seg,
						     g.restarts_off + i * sizeof *rs);

		rs->generation = i + 1;
		rs->old_pid = 99;
		rs->status = -9;
		snprintf(rs->reason, sizeof rs->reason, "killed by signal 9");
	}
	put8(&o, mode);
	put8(&o, ga);
	put8(&o, pipes);
	put8(&o, gb);
	/* the histograms stay out of the seed (zeros): patches reach them */
	put(&o, seg, g.worker_hist_off);
	save_out("health", name, &o);
	free(seg);
}

/* patch record */
static void
hpatch(struct out *o, uint8_t table, uint16_t off, const void *p, uint8_t n)
{
	put8(o, table);
	put16(o, off);
	put8(o, n);
	put(o, p, n);
}

static void
health_seeds(void)
{
	/* mode bits: 1 linear, 2 patches, 0x08 pid alive, 0x10 recreated,
	 * 0x20 gone between, 0x40 geometry B */
	health_linear("linear-live", 0x09, 0x25, 2, 0x25, 2, true);
	health_linear("linear-stopped", 0x01, 0x49, 3, 0, 2, false);
	health_linear("linear-recreated", 0x59, 0x2d, 1, 0x6e, 4, true);
	health_linear("linear-gone", 0x29, 0x21, 1, 0, 1, true);
	health_linear("linear-keep-offsets", 0x0d, 0x05, 1, 0, 1, true);
	{
		struct out o = { 0 };
		uint32_t st = NX_INST_RUNNING, nw = 2, one = 1;
		uint64_t hb = 1000, v64 = 500, big = UINT64_MAX;
		uint64_t hist[4] = { 3, 3000, 100, 2000 }; /* count, sum, min, max */
		uint64_t bucket = 3;

		put8(&o, 0x0a); /* patches, pid alive */
		put8(&o, 0x2a); /* 3 workers, 2 slots, 1 channel */
		put8(&o, 2);
		put8(&o, 0x2a);
		hpatch(&o, 0, offsetof(struct nx_health_hdr, state), &st, 4);
		hpatch(&o, 0, offsetof(struct nx_health_hdr, nworkers), &nw, 4);
		hpatch(&o, 1, offsetof(struct nx_health_worker, heartbeat_ns), &hb, 8);
		hpatch(&o, 1, offsetof(struct nx_health_worker, state), &one, 4);
		hpatch(&o, 4, offsetof(struct nx_health_slot, state), &one, 4);
		hpatch(&o, 4, sizeof(struct nx_health_slot) + offsetof(struct nx_health_slot, state),
		       &one, 4);
		hpatch(&o, 5, offsetof(struct nx_health_slot_stats, calls), &v64, 8);
		hpatch(&o, 6, 0, hist, sizeof hist);
		hpatch(&o, 6, 64 + 8 * 10, &bucket, 8);
		hpatch(&o, 7, 0, hist, sizeof hist);
		hpatch(&o, 7, 64 + 8 * 200, &bucket, 8);
		hpatch(&o, 2, 0, &one, 4);
		hpatch(&o, 3, offsetof(struct nx_health_pipe, active), &one, 4);
		hpatch(&o, 3, 0, "fz", 2);
		hpatch(&o, 8, 0, &v64, 8);
		hpatch(&o, 0, offsetof(struct nx_health_hdr, restarts), &v64, 8);
		hpatch(&o, 0xff, 0, NULL, 0);
		/* the second look: counters moved, one went backwards */
		v64 = 900;
		hb = 2000;
		hist[0] = 5;
		hpatch(&o, 5, offsetof(struct nx_health_slot_stats, calls), &v64, 8);
		hpatch(&o, 5, offsetof(struct nx_health_slot_stats, failures), &v64, 8);
		hpatch(&o, 1, offsetof(struct nx_health_worker, answered), &big, 8);
		hpatch(&o, 1, offsetof(struct nx_health_worker, heartbeat_ns), &hb, 8);
		hpatch(&o, 6, 0, hist, sizeof hist);
		/* (ctl_seq left odd hangs the reader: regressions/health/hang-odd-ctl-seq) */
		hpatch(&o, 8, 3 * sizeof(struct nx_health_restart) +
			       offsetof(struct nx_health_restart, reason), "gone", 4);
		save_out("health", "patches", &o);
	}
	{
		/* raw: a header alone, the wrong size */
		struct nx_health_hdr h;
		struct out o = { 0 };

		memset(&h, 0, sizeof h);
		h.magic = NX_HEALTH_MAGIC;
		h.abi_version = NX_SHM_VERSION;
		h.layout_bytes = sizeof h;
		put8(&o, 0x00);
		put(&o, &h, sizeof h);
		save_out("health", "raw-header", &o);
	}
	save("health", "raw-short", "\x00NXHL", 5);
}

/* ---- ctl ---- */

static void
rec(struct out *o, uint8_t flags, const void *p, size_t n)
{
	put8(o, flags);
	put16(o, (uint16_t)n);
	put(o, p, n);
}

static void
rec_msg(struct out *o, uint8_t flags, uint32_t type, uint32_t abi, int32_t status,
	uint32_t wait_mode, uint32_t chan_id, const char *text)
{
	struct nx_ctl_msg m;

	memset(&m, 0, sizeof m);
	m.type = type;
	m.abi_version = abi;
	m.status = status;
	m.wait_mode = wait_mode;
	m.chan_id = chan_id;
	m.generation = 1;
	if (text != NULL)
		snprintf(m.text, sizeof m.text, "%s", text);
	rec(o, flags, &m, sizeof m);
}

/* A command as shm/attach.c's nx__ctl_session_command builds it. */
static void
rec_cmd(struct out *o, bool json, const char *const *argv)
{
	static struct nx_ctl_cmd c;
	char *a = c.args;
	unsigned argc = 0;

	memset(&c.hdr, 0, sizeof c.hdr);
	c.hdr.type = NX_CTL_COMMAND;
	c.hdr.abi_version = NX_CTL_VERSION;
	c.hdr.wait_mode = json ? NX_CTL_CMD_JSON : 0;
	for (; argv[argc] != NULL; argc++) {
		size_t n = strlen(argv[argc]) + 1;

		memcpy(a, argv[argc], n);
		a += n;
	}
	c.argc = argc;
	c.len = (uint32_t)(a - c.args);
	rec(o, 0, &c, offsetof(struct nx_ctl_cmd, args) + c.len);
}

static void
cmd_seed(const char *name, bool json, const char *const *argv)
{
	struct out o = { 0 };

	put8(&o, 0); /* nxd */
	rec_cmd(&o, json, argv);
	save_out("ctl", name, &o);
}

/* A reply chunk as nxd's reply_flush builds it. */
static void
rec_reply(struct out *o, uint8_t flags, int32_t status, const char *text, bool more)
{
	static struct nx_ctl_reply r;
	size_t n = strlen(text);

	memset(&r.hdr, 0, sizeof r.hdr);
	r.hdr.type = NX_CTL_REPLY;
	r.hdr.abi_version = NX_CTL_VERSION;
	r.hdr.status = status;
	r.len = (uint32_t)n;
	r.more = more;
	memcpy(r.text, text, n);
	rec(o, flags, &r, offsetof(struct nx_ctl_reply, text) + n);
}

#define ARGV(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void
ctl_seeds(void)
{
	struct out o = { 0 };

	cmd_seed("cmd-list", false, ARGV("list"));
	cmd_seed("cmd-list-json", true, ARGV("list"));
	cmd_seed("cmd-placement", true, ARGV("placement"));
	cmd_seed("cmd-swap", false, ARGV("swap", "fz", "b", "tag", "--set", "text=?", "--probe", "hi"));
	cmd_seed("cmd-swap-json", true, ARGV("swap", "echo", "echo", "checksum"));
	cmd_seed("cmd-swap-plugin", false, ARGV("swap", "fz", "a", "x", "--plugin", "/nonexistent/x.so"));
	cmd_seed("cmd-rollback", false, ARGV("rollback", "fz", "b"));
	cmd_seed("cmd-swap-pipeline", true, ARGV("swap-pipeline", "fz", "--config",
						 "tests/fuzz/corpus/conf/policies"));
	cmd_seed("cmd-swap-pipeline-rr", false, ARGV("swap-pipeline", "b", "--config",
						    "tests/fuzz/corpus/conf/two-pipelines"));
	cmd_seed("cmd-ratelimit", false, ARGV("ratelimit", "all", "1000", "10"));
	cmd_seed("cmd-ratelimit-chan", true, ARGV("ratelimit", "0", "5"));
	cmd_seed("cmd-breaker-open", false, ARGV("breaker", "fz", "a", "open"));
	cmd_seed("cmd-breaker-auto", true, ARGV("breaker", "fz", "a", "auto"));
	cmd_seed("cmd-release", false, ARGV("release", "fz", "b"));
	cmd_seed("cmd-dlq-list", false, ARGV("dlq", "list"));
	cmd_seed("cmd-dlq-list-json", true, ARGV("dlq", "list"));
	cmd_seed("cmd-dlq-show", false, ARGV("dlq", "show", "0.1"));
	cmd_seed("cmd-dlq-show-json", true, ARGV("dlq", "show", "0.2"));
	cmd_seed("cmd-dlq-export", false, ARGV("dlq", "export"));
	cmd_seed("cmd-dlq-export-ids", false, ARGV("dlq", "export", "0.0", "0.3"));
	cmd_seed("cmd-dlq-drain-id", true, ARGV("dlq", "drain", "0.1"));
	cmd_seed("cmd-unknown", false, ARGV("frobnicate", "x"));

	/* attach and reclaim */
	put8(&o, 0);
	rec_msg(&o, 0, NX_CTL_ATTACH, NX_CTL_VERSION, 0, NX_WAIT_SLEEP, 0, NULL);
	save_out("ctl", "attach", &o);
	put8(&o, 0);
	rec_msg(&o, 0x01, NX_CTL_ATTACH, NX_CTL_VERSION, 0, NX_WAIT_SPIN, 0, NULL);
	rec_msg(&o, 0, NX_CTL_ATTACH, NX_CTL_VERSION, 0, NX_WAIT_SPIN, 0, NULL);
	save_out("ctl", "attach-twice", &o);
	put8(&o, 0);
	rec_msg(&o, 0, NX_CTL_ATTACH, NX_CTL_VERSION + 1, 0, 0, 0, NULL);
	rec_msg(&o, 0, NX_CTL_ATTACH, NX_CTL_VERSION, 0, 7, 0, NULL);
	save_out("ctl", "attach-bad", &o);
	put8(&o, 0);
	rec_msg(&o, 0, NX_CTL_ATTACH, NX_CTL_VERSION, 0, NX_WAIT_SLEEP, 0, NULL);
	/* nxd closed the attached connection: the next goes on a new one */
	rec_msg(&o, 0, NX_CTL_ATTACH, NX_CTL_VERSION, 0, 0, 0, NULL);
	rec_msg(&o, 0x03, NX_CTL_RECLAIM, NX_CTL_VERSION, 0, 0, 0, NULL);
	save_out("ctl", "attach-reclaim", &o);
	/* commands while channels are attached, then one detached by a message */
	put8(&o, 0);
	rec_msg(&o, 0, NX_CTL_ATTACH, NX_CTL_VERSION, 0, NX_WAIT_SLEEP, 0, NULL);
	rec_msg(&o, 0, NX_CTL_ATTACH, NX_CTL_VERSION, 0, NX_WAIT_SPIN, 0, NULL);
	rec_cmd(&o, false, ARGV("ratelimit", "0", "100", "5"));
	rec_cmd(&o, true, ARGV("ratelimit", "1", "0"));
	rec_cmd(&o, false, ARGV("ratelimit", "all", "7"));
	rec_msg(&o, 0x08, NX_CTL_ATTACH, NX_CTL_VERSION, 0, 0, 0, NULL);
	rec_cmd(&o, true, ARGV("ratelimit", "all", "0"));
	save_out("ctl", "attached-ratelimit", &o);
	put8(&o, 0);
	rec_msg(&o, 0x01, NX_CTL_RECLAIM, NX_CTL_VERSION, 0, 0, 1, NULL);
	rec_msg(&o, 0, NX_CTL_RECLAIM, NX_CTL_VERSION, 0, 0, 99, NULL);
	save_out("ctl", "reclaim", &o);
	put8(&o, 0);
	rec_msg(&o, 0, NX_CTL_OK, NX_CTL_VERSION, 0, 0, 0, NULL);
	rec(&o, 0, "", 0);
	rec(&o, 0, "\x05\0\0\0", 4);
	save_out("ctl", "junk", &o);
	/* several commands on one connection */
	put8(&o, 0);
	rec_cmd(&o, false, ARGV("dlq", "list"));
	rec_cmd(&o, true, ARGV("dlq", "export", "0.1"));
	rec_cmd(&o, false, ARGV("swap", "fz", "b", "tag", "--set", "text=2"));
	rec_cmd(&o, true, ARGV("rollback", "fz", "b"));
	rec_cmd(&o, false, ARGV("list"));
	save_out("ctl", "session", &o);

	/* mode 1: what a client reads after ATTACH or RECLAIM */
	put8(&o, 1);
	rec_msg(&o, 0x01, NX_CTL_OK, NX_CTL_VERSION, 0, 0, 3, NULL);
	rec_msg(&o, 0x01, NX_CTL_ERROR, NX_CTL_VERSION, NX_ENOSPC, 0, 0, "all channels in use");
	rec_msg(&o, 0x05, NX_CTL_OK, NX_CTL_VERSION, 0, 0, 1, NULL);
	rec_msg(&o, 0x01, NX_CTL_ATTACH, NX_CTL_VERSION, 0, 0, 0, NULL);
	rec_msg(&o, 0, NX_CTL_ERROR, NX_CTL_VERSION, 5, 0, 0, "positive status");
	rec(&o, 0x01, "short", 5);
	save_out("ctl", "read-reply", &o);

	/* mode 2: a session's command answered in chunks */
	put8(&o, 2);
	rec_reply(&o, 0, 0, "fz  id 3 version 1 graph = seq(a, b)\n", true);
	rec_reply(&o, 0x01, 0, "  slot a ...\n", true);
	rec_reply(&o, 0, 0, "", false);
	save_out("ctl", "session-chunks", &o);
	put8(&o, 6); /* json */
	rec_reply(&o, 0, NX_ENOENT, "{\"error\":\"no pipeline\"}", false);
	save_out("ctl", "session-error-status", &o);
	put8(&o, 2);
	rec_msg(&o, 0, NX_CTL_ERROR, NX_CTL_VERSION, NX_EPERM, 0, 0, "refused");
	save_out("ctl", "session-refused", &o);
	put8(&o, 2);
	rec_reply(&o, 0, 0, "part", true);
	save_out("ctl", "session-cut", &o);

	/* mode 3: the parser alone */
	put8(&o, 3);
	rec_cmd(&o, false, ARGV("a", "", "c"));
	save_out("ctl", "parse", &o);
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen_seeds DIR\n");
		return 2;
	}
	root = argv[1];
	spec_seeds();
	conf_seeds();
	elf_seeds();
	dlq_seeds();
	health_seeds();
	ctl_seeds();
	return 0;
}
