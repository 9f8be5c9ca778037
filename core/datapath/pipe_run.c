/*
 * Running a pipeline's graph on one message: the worker's data path
 * (pipe_run.h has the inline entry, nx__pipeline_run).
 *
 * No allocation: intermediate outputs live in the worker's scratch, taken
 * as a stack (a node takes what it needs, runs its children above it,
 * gives it back). nx__graph_scratch_need() (pipe_build.c) computes the
 * worst case when a pipeline is built, and a pipeline that would need more than a worker
 * has is refused then, so running never runs out.
 */
#include <string.h>

#include "core/datapath/crc32c.h"
#include "core/datapath/pipe_run.h"

static int run_node(const struct nx_pipeline *p, uint16_t n, struct nx_msg *m,
		    struct nx_exec *x);

static inline uint8_t *
scratch_take(struct nx_exec *x, uint32_t n)
{
	uint8_t *p = x->scratch + x->top;

	x->top += n;
	return p;
}

/*
 * What a request left in the worker's scratch is cleared before the next
 * one: scratch is shared by every channel of the worker, and a stage
 * that says it wrote more than it did must find zeros there, not another
 * client's data. Cleared up to what stages said they wrote, so it costs
 * what was copied already.
 */
static inline void
scratch_clear(uint8_t *const buf[2], const uint32_t used[2])
{
	if (used[0] != 0)
		memset(buf[0], 0, used[0]);
	if (used[1] != 0)
		memset(buf[1], 0, used[1]);
}

/*
 * A sequence: each child's output feeds the next, through two scratch
 * buffers; the last child writes the answer. A child that passes its
 * input through costs no copy: the next one reads it in place. So a
 * child's input may be either buffer (or the sequence's own input), and
 * its output goes to the buffer that is not its input: a stage's input
 * and output never overlap (nx_stage.h).
 */
static int
node_seq(const struct nx_pipeline *p, const struct nx_node *nd, struct nx_msg *m,
	 struct nx_exec *x)
{
	const uint32_t top = x->top, cap = x->max_payload;
	uint8_t *buf[2] = { NULL, NULL };
	uint32_t used[2] = { 0, 0 }; /* bytes each buffer was told it holds */
	const uint8_t *in = m->in;
	uint32_t in_len = m->in_len, i;
	int rc = 0;

	if (nd->nchild > 1)
		buf[0] = scratch_take(x, cap);
	if (nd->nchild > 2)
		buf[1] = scratch_take(x, cap);
	for (i = 0; i < nd->nchild; i++) {
		const bool last = i + 1 == nd->nchild;
		struct nx_msg c = { .in = in, .in_len = in_len };
		const uint16_t child = p->children[nd->child0 + i];

		if (last) {
			c.out = m->out;
			c.out_cap = m->out_cap;
		} else {
			c.out = in == buf[0] ? buf[1] : buf[0];
			c.out_cap = cap;
		}
		/* a pass-through stage reports its input back as c.out */
		if (p->nodes[child].kind == NX_NODE_STAGE) {
			rc = nx__run_slot(p, p->nodes[child].slot, &c, x);
			if (rc == NX_STAGE_PASS && !last) {
				c.out = (uint8_t *)(uintptr_t)in;
				c.out_len = in_len;
				rc = 0;
			} else if (rc == NX_STAGE_PASS) {
				if (in_len > c.out_cap) {
					rc = NX_EOVERFLOW;
					break;
				}
				if (c.out != in)
					memmove(c.out, in, in_len);
				c.out_len = in_len;
				rc = 0;
			} else if (rc > 0) {
				rc = NX_ESTAGE;
			} else if (rc == 0 && c.out_len > c.out_cap) {
				rc = NX_EOVERFLOW;
			}
		} else {
			rc = run_node(p, child, &c, x);
		}
		if (!last && c.out != in) {
			const unsigned k = c.out == buf[0] ? 0 : 1;
			const uint32_t n = c.out_len < cap ? c.out_len : cap;

			if (n > used[k])
				used[k] = n;
		}
		if (rc < 0)
			break;
		in = c.out;
		in_len = c.out_len;
	}
	scratch_clear(buf, used);
	x->top = top;
	if (rc == 0)
		m->out_len = in_len;
	return rc;
}

/* A branch: the selector (which writes nothing) names the child. */
static int
node_branch(const struct nx_pipeline *p, const struct nx_node *nd, struct nx_msg *m,
	    struct nx_exec *x)
{
	struct nx_msg sel = { .in = m->in, .in_len = m->in_len, .out = m->out, .out_cap = 0 };
	int rc = nx__run_slot(p, nd->slot, &sel, x);

	if (rc < 0)
		return rc;
	if (rc >= nd->nchild)
		return NX_ESTAGE; /* the selector named a child that is not there */
	return run_node(p, p->children[nd->child0 + rc], m, x);
}

/*
 * A fan-out: every child on the same input, each writing into its own
 * region of one buffer, after a 4-byte length: that buffer is the merge
 * stage's input, children in order.
 */
static int
node_fanout(const struct nx_pipeline *p, const struct nx_node *nd, struct nx_msg *m,
	    struct nx_exec *x)
{
	const uint32_t top = x->top, cap = x->max_payload;
	uint8_t *frame = scratch_take(x, nd->nchild * (cap + 4));
	uint8_t *w = frame;
	struct nx_msg merge;
	uint32_t i;
	int rc = 0;

	for (i = 0; i < nd->nchild; i++) {
		struct nx_msg c = { .in = m->in, .in_len = m->in_len, .out = w + 4, .out_cap = cap };

		rc = run_node(p, p->children[nd->child0 + i], &c, x);
		if (rc < 0) {
			w += 4 + (c.out_len < cap ? c.out_len : cap); /* cleared below */
			break;
		}
		w[0] = (uint8_t)c.out_len;
		w[1] = (uint8_t)(c.out_len >> 8);
		w[2] = (uint8_t)(c.out_len >> 16);
		w[3] = (uint8_t)(c.out_len >> 24);
		w += 4 + c.out_len;
	}
	if (rc == 0) {
		merge = (struct nx_msg){ .in = frame, .in_len = (uint32_t)(w - frame),
					 .out = m->out, .out_cap = m->out_cap };
		rc = nx__run_slot(p, nd->slot, &merge, x);
		if (rc == NX_STAGE_PASS || rc > 0)
			rc = NX_ESTAGE; /* a merge must write its answer */
		else if (rc == 0 && merge.out_len > merge.out_cap)
			rc = NX_EOVERFLOW;
		m->out_len = merge.out_len;
	}
	/* as scratch_clear: what the children said they wrote */
	memset(frame, 0, (size_t)(w - frame));
	x->top = top;
	return rc;
}

/* splitmix64's finaliser: a good spread from a channel id. */
static inline uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/*
 * A split: the child whose weight band holds the key's hash. Sticky: the
 * same client (or the same payload) always lands on the same child. If
 * that child fails and is not the first, the first runs instead.
 */
static int
node_split(const struct nx_pipeline *p, const struct nx_node *nd, struct nx_msg *m,
	   struct nx_exec *x)
{
	uint64_t h = nd->key == NX_SPLIT_REQUEST ? mix64(nx__crc32c(0, m->in, m->in_len))
						 : mix64(x->ctx->channel + 1);
	uint32_t pick = (uint32_t)(h % nd->wtotal), i;
	int rc;

	for (i = 0; i + 1 < nd->nchild; i++) {
		uint32_t wgt = p->weights[nd->child0 + i];

		if (pick < wgt)
			break;
		pick -= wgt;
	}
	rc = run_node(p, p->children[nd->child0 + i], m, x);
	if (rc < 0 && i != 0) {
		x->ctx->flags |= NX_CTX_FALLBACK;
		rc = run_node(p, p->children[nd->child0], m, x);
	}
	return rc;
}

/* Round-robin: this worker's turn counter for the node picks the child. */
static int
node_rr(const struct nx_pipeline *p, const struct nx_node *nd, struct nx_msg *m,
	struct nx_exec *x)
{
	uint32_t turn = x->rr[nd->rr]++;

	return run_node(p, p->children[nd->child0 + turn % nd->nchild], m, x);
}

static int
run_node(const struct nx_pipeline *p, uint16_t n, struct nx_msg *m, struct nx_exec *x)
{
	const struct nx_node *nd = &p->nodes[n];

	switch (nd->kind) {
	case NX_NODE_STAGE:
		return nx__node_stage(p, nd, m, x);
	case NX_NODE_SEQ:
		return node_seq(p, nd, m, x);
	case NX_NODE_BRANCH:
		return node_branch(p, nd, m, x);
	case NX_NODE_FANOUT:
		return node_fanout(p, nd, m, x);
	case NX_NODE_SPLIT:
		return node_split(p, nd, m, x);
	case NX_NODE_RR:
		return node_rr(p, nd, m, x);
	}
	return NX_ESTAGE;
}

int
nx__pipeline_run_graph(const struct nx_pipeline *p, struct nx_msg *msg, struct nx_exec *x)
{
	x->top = 0;
	return run_node(p, 0, msg, x);
}
