/*
 * pipe.h - pipelines on the control path: what a pipeline should be (a
 * spec), what a built one is, and the calls that parse, build and tear
 * them down. The data path that runs a built pipeline is pipe_run.h.
 *
 *   spec      what a pipeline should be: nodes, slots, stage names and
 *             parameters (from a C table or a [pipeline.NAME] section);
 *             pipe_parse.c, policy_parse.c, pipe_builtin.c
 *   pipeline  a built spec: the same nodes, and slots holding live stage
 *             instances (stage.c, pipe_build.c); immutable once
 *             published, except each slot's current instance, which a
 *             swap replaces through RCU
 *
 * A worker reads the pipeline pointer once per request and each slot's
 * instance pointer once per visit; both stay valid until it marks its
 * next quiescent state, so a request runs every slot it visits on one
 * whole instance, old or new, never half of a swap.
 */
#ifndef NX_CORE_PIPE_H
#define NX_CORE_PIPE_H

#include <stdbool.h>
#include <stdint.h>

#include <nx/nx_stage.h>

#include "core/datapath/breaker.h"
#include "core/datapath/hist.h"
#include "shm/shm_internal.h"

#define NX_MAX_PIPELINES 64   /* per instance */
/* a request names its pipeline in one byte, 255 meaning none (shm/abi/channel.h) */
_Static_assert(NX_MAX_PIPELINES < 255, "pipeline ids fit a descriptor's byte");
#define NX_MAX_NODES 32       /* per pipeline */
#define NX_MAX_SLOTS 16       /* per pipeline */
#define NX_MAX_CHILDREN 64    /* per pipeline, all nodes together */
#define NX_MAX_DEPTH 8        /* nesting of nodes */
#define NX_MAX_PARAMS 16      /* per slot */
#define NX_NAME_MAX 32
#define NX_PARAM_MAX 128
#define NX_PLUGIN_PATH_MAX 256

enum nx_node_kind {
	NX_NODE_STAGE = 1, /* run the slot's stage */
	NX_NODE_SEQ,       /* children in order, each one's output the next one's input */
	NX_NODE_BRANCH,    /* the selector slot picks one child */
	NX_NODE_FANOUT,    /* every child on the same input, then the merge slot */
	NX_NODE_SPLIT,     /* one child by weight, sticky; the first on failure */
	NX_NODE_RR,        /* children in turn */
};

enum nx_split_key {
	NX_SPLIT_CLIENT = 0,  /* the same channel always gets the same child */
	NX_SPLIT_REQUEST = 1, /* the same payload always gets the same child */
};

struct nx_node {
	uint8_t kind;     /* enum nx_node_kind */
	uint8_t nchild;
	uint8_t key;      /* SPLIT: enum nx_split_key */
	uint8_t pad;
	uint16_t slot;    /* STAGE: its slot; BRANCH: the selector; FANOUT: the merge */
	uint16_t child0;  /* first child in children[] */
	uint32_t rr;      /* RR: index of this node's turn counter (per worker) */
	uint32_t wtotal;  /* SPLIT: sum of the weights */
};

/* ---- specs ---- */

/* What a slot does when its stage cannot answer (breaker open, failure,
 * fault, quarantine). */
enum nx_degraded {
	NX_DEG_FAIL = 0,     /* answer the error at once */
	NX_DEG_SKIP = 1,     /* pass the input through, as if the stage were not there */
	NX_DEG_FALLBACK = 2, /* run the fallback stage instead */
	NX_DEG_CACHE = 3,    /* answer the last good result for the same input */
};

/*
 * A slot's policies, as configured (SLOT.breaker, SLOT.budget-us, ...;
 * see core/pipeline/policy_parse.c). Durations in ns here; a built slot holds them
 * in TSC ticks.
 */
struct nx_policy_spec {
	bool set;                         /* any policy key given */
	bool breaker;                     /* a circuit breaker guards the stage */
	struct nx_brk_conf brk;           /* ns */
	uint64_t budget_ns;               /* 0: no time budget */
	bool budget_fails;                /* over budget: a failure (else a slow call) */
	uint32_t degraded;                /* enum nx_degraded */
	char fallback[NX_NAME_MAX];       /* NX_DEG_FALLBACK: its stage ... */
	char fallback_plugin[NX_PLUGIN_PATH_MAX]; /* ... from this plugin ("" built-in) */
	uint32_t cache_entries;           /* NX_DEG_CACHE: entries per worker (power of two) */
	uint32_t cache_bytes;             /* largest input and answer it keeps */
	bool contain;                     /* run process under fault containment */
};

struct nx_slot_spec {
	char name[NX_NAME_MAX];
	char stage[NX_NAME_MAX];
	char plugin[NX_PLUGIN_PATH_MAX]; /* "" for a built-in stage */
	unsigned nparams;
	char keys[NX_MAX_PARAMS][NX_NAME_MAX];
	char vals[NX_MAX_PARAMS][NX_PARAM_MAX];
	bool referenced;
	struct nx_policy_spec pol;
};

struct nx_pipe_spec {
	char name[NX_PIPE_NAME_MAX];
	char graph[512];                 /* the root expression, as written */
	unsigned nnodes, nslots, nchildren;
	struct nx_node nodes[NX_MAX_NODES]; /* node 0 is the root */
	uint16_t children[NX_MAX_CHILDREN];
	uint32_t weights[NX_MAX_CHILDREN];
	struct nx_slot_spec slots[NX_MAX_SLOTS];
	/* named node definitions, resolved by nx__spec_finish */
	unsigned ndefs;
	char def_names[NX_MAX_NODES][NX_NAME_MAX];
	char def_exprs[NX_MAX_NODES][256];
};

/** Start a spec for pipeline name. @return 0 or NX_EINVAL */
int nx__spec_init(struct nx_pipe_spec *s, const char *name);
/**
 * Add one key of a [pipeline.NAME] section: `graph = EXPR`, `NODE = EXPR`,
 * `SLOT.stage = NAME`, `SLOT.plugin = PATH`, `SLOT.KEY = VALUE`.
 * @return 0 or NX_EINVAL naming the key
 */
int nx__spec_set(struct nx_pipe_spec *s, const char *key, const char *value);
/** Add "key = value" lines (comments # or ;) as nx__spec_set would. */
int nx__spec_parse_text(struct nx_pipe_spec *s, const char *text);
/**
 * Parse the graph: resolve names to nodes and slots (a name that is
 * neither, but a built-in stage, becomes a slot running that stage),
 * check limits, kinds and options. @return 0 or NX_EINVAL saying what
 */
int nx__spec_finish(struct nx_pipe_spec *s);

/** The built-in pipelines (C tables, pipe_builtin.c): how many, and each
 *  one's finished spec. */
unsigned nx__builtin_pipes(void);
int nx__builtin_pipe_spec(unsigned i, struct nx_pipe_spec *spec);

/**
 * One SLOT.key of a pipeline section, if it is a policy key
 * (core/pipeline/policy_parse.c). @return 0, 1 (not a policy key: a stage
 * parameter), or NX_EINVAL saying what was wrong
 */
int nx__policy_set(struct nx_policy_spec *ps, const char *pipe, const char *slot, const char *key,
		   const char *value);
/** Checks of a slot's policies as a whole. @return 0 or NX_EINVAL */
int nx__policy_check(const struct nx_policy_spec *ps, const char *pipe, const char *slot);

/* ---- pipelines ---- */

struct nx_plugin_ref;

struct nx_pool;

/* One initialised stage. Built and freed on the control thread; from the
 * instance pool when there is one, its state (state_bytes) right after. */
struct nx_stage_inst {
	const struct nx_stage_ops *ops;
	void *state;
	uint32_t quarantined;          /* a worker sets it when the stage faulted;
					* nxctl release (control thread) clears it */
	uint64_t version;              /* the slot's version when installed */
	uint64_t serial;               /* unique among every instance this nxd made: a
					* worker's policy state knows whose it is by it
					* (an address comes back from the pool) */
	struct nx_plugin_ref *plugin;  /* NULL for built-ins */
	struct nx_pool *pool;          /* where it came from; NULL: malloc */
	struct nx_slot_spec spec;      /* how it was made (for list and rollback) */
	uint8_t inline_state[] __attribute__((aligned(64)));
};

/* A built slot's policies (immutable once published, but force). */
struct nx_slot_policy {
	bool on;                       /* any: the slot runs through nx__run_slot_policy */
	bool breaker;
	bool budget_fails;
	bool contain;
	uint32_t degraded;             /* enum nx_degraded */
	struct nx_brk_conf brk;        /* in ticks */
	uint64_t budget;               /* ticks; 0 none */
	struct nx_stage_inst *fallback;/* NX_DEG_FALLBACK */
	uint8_t *cache;                /* NX_DEG_CACHE: nworkers x entries x entry_bytes,
					* then nworkers x stage_bytes */
	uint32_t cache_entries;
	uint32_t cache_bytes;
	uint32_t cache_entry_bytes;
	uint32_t stage_bytes;          /* a worker's private copy of a request: input
					* (cache_bytes, rounded up), then its answer */
	uint32_t stage_out_cap;        /* the answer's room: the largest payload */
	uint32_t nworkers;
	uint32_t force;                /* enum nx_brk_force: control thread writes */
};

struct nx_slot {
	struct nx_stage_inst *cur;     /* RCU: workers read it */
	struct nx_stage_inst *prev;    /* control thread: what rollback restores */
	char name[NX_NAME_MAX];
	uint32_t hidx;                 /* index in the health slot table */
	uint64_t swaps;
	uint64_t last_version;
	struct nx_slot_policy pol;
};

struct nx_pipeline {
	struct nx_pool *pool;          /* where it came from; NULL: malloc */
	char name[NX_PIPE_NAME_MAX];
	uint32_t id;                   /* index in the pipeline table */
	uint64_t version;              /* bumped by swap-pipeline */
	uint32_t nnodes, nslots, nchildren;
	uint32_t scratch_bytes;        /* scratch one request may need */
	uint32_t nrr;                  /* RR nodes (turn counters) */
	uint32_t rr_base;              /* first counter index, in the worker's table */
	struct nx_node nodes[NX_MAX_NODES];
	uint16_t children[NX_MAX_CHILDREN];
	uint32_t weights[NX_MAX_CHILDREN];
	struct nx_slot slots[NX_MAX_SLOTS];
	char graph[512];
};

/* The instance's pipelines, by id: RCU-published, read by workers once
 * per loop. */
struct nx_pipetab {
	uint32_t n;
	struct nx_pipeline *p[NX_MAX_PIPELINES];
};

/* Everything building a pipeline needs from the instance. */
struct nx_build_env {
	uint32_t max_payload;          /* largest intermediate output */
	uint32_t scratch_bytes;        /* per worker */
	struct nx_pool *pipe_pool;     /* NULL: malloc (unit tests) */
	struct nx_pool *inst_pool;
	uint32_t state_bytes;          /* inline state room in each pooled instance */
	/* health slot indices: take and give back (NULL in unit tests) */
	int (*slot_take)(void *arg, const char *pipeline, const char *slot);
	void (*slot_give)(void *arg, uint32_t hidx);
	/* RR counter ranges */
	int (*rr_take)(void *arg, uint32_t n);
	void (*rr_give)(void *arg, uint32_t base, uint32_t n);
	void *arg;
	/* an optional probe run through each new stage before it goes live */
	const uint8_t *probe;
	uint32_t probe_len;
	uint32_t nworkers;             /* per-worker policy state (caches); 0 = 1 */
	const char *plugin_dirs;       /* where plugins may come from ("DIR:DIR"); NULL any */
};

/* ---- stage instances (stage.c) ---- */

/** The stage ops for a name: built-in, or from a plugin (under plugin_dirs,
 *  "DIR:DIR...", when not NULL or empty). */
int nx__stage_resolve(const struct nx_slot_spec *ss, const char *plugin_dirs,
		      const struct nx_stage_ops **ops, struct nx_plugin_ref **plugin);

/**
 * Make one stage instance from its spec: resolve (plugin loaded), init,
 * self-test, probe. @return 0, or an error with a message (nothing left)
 */
int nx__stage_inst_create(struct nx_stage_inst **out, const struct nx_slot_spec *ss,
			  uint64_t version, const struct nx_build_env *env);
/** fini and free: only after no worker can see it. */
void nx__stage_inst_destroy(struct nx_stage_inst *si);

/* ---- building (pipe_build.c) ---- */

/**
 * Build a pipeline from a finished spec: every slot's stage created and
 * checked, scratch needs within the workers' scratch. Nothing is left on
 * failure. @return 0 or an error with its message
 */
int nx__pipeline_build(struct nx_pipeline **out, const struct nx_pipe_spec *spec,
		       const struct nx_build_env *env);
/** fini every stage (current and previous) and free: after a grace period. */
void nx__pipeline_destroy(struct nx_pipeline *p, const struct nx_build_env *env);
/** Build a slot's policies (its fallback stage, its caches). @return 0 or an error */
int nx__policy_build(struct nx_slot *s, const struct nx_policy_spec *ps, const char *pipe,
		     const struct nx_build_env *env);
/** Free what nx__policy_build made (after a grace period). */
void nx__policy_destroy(struct nx_slot *s);

/** Index of a slot by name, or -1. */
int nx__pipeline_slot(const struct nx_pipeline *p, const char *name);

/** Scratch a spec's graph needs per request, for a given max payload. */
uint64_t nx__graph_scratch_need(const struct nx_node *nodes, const uint16_t *children,
				uint32_t max_payload);

#endif /* NX_CORE_PIPE_H */
