/*
 * Pipeline specs: what a [pipeline.NAME] section (or a built-in C table)
 * says, checked and turned into nodes and slots.
 *
 *   [pipeline.lookup]
 *   graph = seq(parse, route, format)         ; the root
 *   route = branch(cache, db; by: pick)       ; a named node
 *   db = fanout(db_a, db_b; merge: first)
 *   ab = split(v1 90, v2 10; key: client)     ; weights; key: client or request
 *   rr = roundrobin(w1, w2, w3)
 *   parse.stage = json-parse                  ; a slot: its stage ...
 *   parse.plugin = /usr/lib/nexus/json.so     ; ... from a plugin ...
 *   parse.max_depth = 8                       ; ... and its parameters
 *
 * A name in a graph is a named node, a slot (it has NAME.stage), or, when
 * it is neither, a built-in stage (`graph = seq(echo, checksum)`).
 *
 * Grammar:  expr  := name | kind '(' item {',' item} [';' opt {',' opt}] ')'
 *           item  := expr [weight]
 *           opt   := name ':' name
 *           kind  := seq | branch | fanout | split | roundrobin | rr
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pipeline/pipe.h"
#include "platform/nx_platform.h"
#include "core/pipeline/stages.h"

static bool
name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n >= NX_NAME_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

int
nx__spec_init(struct nx_pipe_spec *s, const char *name)
{
	memset(s, 0, sizeof *s);
	if (name == NULL || !name_ok(name, strlen(name)) || strlen(name) >= NX_PIPE_NAME_MAX)
		return nx__err(NX_EINVAL, "pipeline name '%s': 1 to 31 of [A-Za-z0-9_-]",
			       name ? name : "");
	strcpy(s->name, name);
	return 0;
}

static struct nx_slot_spec *
slot_find(struct nx_pipe_spec *s, const char *name, size_t n)
{
	unsigned i;

	for (i = 0; i < s->nslots; i++)
		if (strlen(s->slots[i].name) == n && strncmp(s->slots[i].name, name, n) == 0)
			return &s->slots[i];
	return NULL;
}

static struct nx_slot_spec *
slot_get(struct nx_pipe_spec *s, const char *name, size_t n)
{
	struct nx_slot_spec *ss = slot_find(s, name, n);

	if (ss != NULL)
		return ss;
	if (s->nslots == NX_MAX_SLOTS) {
		nx__err(NX_EINVAL, "pipeline %s: more than %d slots", s->name, NX_MAX_SLOTS);
		return NULL;
	}
	ss = &s->slots[s->nslots++];
	memcpy(ss->name, name, n);
	ss->name[n] = '\0';
	return ss;
}

int
nx__spec_set(struct nx_pipe_spec *s, const char *key, const char *value)
{
	const char *dot = strchr(key, '.');
	struct nx_slot_spec *ss;
	size_t n;

	if (value == NULL)
		value = "";
	if (dot == NULL) {
		if (strcmp(key, "graph") == 0) {
			if (strlen(value) >= sizeof s->graph)
				return nx__err(NX_EINVAL, "pipeline %s: graph longer than %zu characters",
					       s->name, sizeof s->graph - 1);
			strcpy(s->graph, value);
			return 0;
		}
		if (!name_ok(key, strlen(key)))
			return nx__err(NX_EINVAL, "pipeline %s: '%s' is not a node name", s->name, key);
		if (s->ndefs == NX_MAX_NODES)
			return nx__err(NX_EINVAL, "pipeline %s: more than %d named nodes", s->name,
				       NX_MAX_NODES);
		if (strlen(value) >= sizeof s->def_exprs[0])
			return nx__err(NX_EINVAL, "pipeline %s: node %s is too long", s->name, key);
		strcpy(s->def_names[s->ndefs], key);
		strcpy(s->def_exprs[s->ndefs], value);
		s->ndefs++;
		return 0;
	}
	n = (size_t)(dot - key);
	if (!name_ok(key, n))
		return nx__err(NX_EINVAL, "pipeline %s: '%.*s' is not a slot name", s->name, (int)n, key);
	ss = slot_get(s, key, n);
	if (ss == NULL)
		return NX_EINVAL;
	key = dot + 1;
	if (strcmp(key, "stage") == 0) {
		if (!name_ok(value, strlen(value)))
			return nx__err(NX_EINVAL, "pipeline %s: slot %s: stage '%s' is not a stage name",
				       s->name, ss->name, value);
		strcpy(ss->stage, value);
		return 0;
	}
	if (strcmp(key, "plugin") == 0) {
		if (strlen(value) >= sizeof ss->plugin || value[0] == '\0')
			return nx__err(NX_EINVAL, "pipeline %s: slot %s: plugin path empty or too long",
				       s->name, ss->name);
		strcpy(ss->plugin, value);
		return 0;
	}
	{
		int rc = nx__policy_set(&ss->pol, s->name, ss->name, key, value);

		if (rc <= 0)
			return rc;
	}
	if (ss->nparams == NX_MAX_PARAMS)
		return nx__err(NX_EINVAL, "pipeline %s: slot %s: more than %d parameters", s->name,
			       ss->name, NX_MAX_PARAMS);
	if (strlen(key) == 0 || strlen(key) >= NX_NAME_MAX || strlen(value) >= NX_PARAM_MAX)
		return nx__err(NX_EINVAL, "pipeline %s: slot %s: parameter '%s' or its value too long",
			       s->name, ss->name, key);
	strcpy(ss->keys[ss->nparams], key);
	strcpy(ss->vals[ss->nparams], value);
	ss->nparams++;
	return 0;
}

/* ---- the graph expression ---- */

struct parser {
	struct nx_pipe_spec *s;
	const char *p;
	const char *start; /* of the expression, for messages */
	const char *where; /* "graph" or a node's name */
	unsigned depth;
	unsigned resolving[NX_MAX_NODES]; /* named nodes being expanded: cycles */
	unsigned nresolving;
};

static void
skip_ws(struct parser *ps)
{
	while (isspace((unsigned char)*ps->p))
		ps->p++;
}

static int
perr(struct parser *ps, const char *what)
{
	return nx__err(NX_EINVAL, "pipeline %s: %s: %s at column %d of '%s'", ps->s->name,
		       ps->where, what, (int)(ps->p - ps->start) + 1, ps->start);
}

static size_t
ident(struct parser *ps, const char **name)
{
	const char *b;

	skip_ws(ps);
	b = ps->p;
	while (isalnum((unsigned char)*ps->p) || *ps->p == '_' || *ps->p == '-')
		ps->p++;
	*name = b;
	return (size_t)(ps->p - b);
}

static int kind_of(const char *name, size_t n)
{
	static const struct {
		const char *name;
		int kind;
	} kinds[] = {
		{ "seq", NX_NODE_SEQ },       { "branch", NX_NODE_BRANCH },
		{ "fanout", NX_NODE_FANOUT }, { "split", NX_NODE_SPLIT },
		{ "roundrobin", NX_NODE_RR }, { "rr", NX_NODE_RR },
	};
	unsigned i;

	for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (strlen(kinds[i].name) == n && strncmp(kinds[i].name, name, n) == 0)
			return kinds[i].kind;
	return 0;
}

static int new_node(struct parser *ps)
{
	if (ps->s->nnodes == NX_MAX_NODES)
		return perr(ps, "more than 32 nodes");
	memset(&ps->s->nodes[ps->s->nnodes], 0, sizeof ps->s->nodes[0]);
	return (int)ps->s->nnodes++;
}

static int parse_expr(struct parser *ps);

/* A leaf name: a named node (expanded in place), a slot, or a built-in stage. */
static int
leaf(struct parser *ps, const char *name, size_t n)
{
	struct nx_slot_spec *ss;
	unsigned i, k;
	int node;

	for (i = 0; i < ps->s->ndefs; i++) {
		struct parser sub;

		if (strlen(ps->s->def_names[i]) != n || strncmp(ps->s->def_names[i], name, n) != 0)
			continue;
		for (k = 0; k < ps->nresolving; k++)
			if (ps->resolving[k] == i)
				return nx__err(NX_EINVAL, "pipeline %s: node %s refers to itself",
					       ps->s->name, ps->s->def_names[i]);
		sub = *ps;
		sub.p = sub.start = ps->s->def_exprs[i];
		sub.where = ps->s->def_names[i];
		sub.resolving[sub.nresolving++] = i;
		node = parse_expr(&sub);
		if (node < 0)
			return node;
		skip_ws(&sub);
		if (*sub.p != '\0')
			return perr(&sub, "unexpected text after the node");
		return node;
	}
	ss = slot_find(ps->s, name, n);
	if (ss == NULL || ss->stage[0] == '\0') {
		char buf[NX_NAME_MAX];

		memcpy(buf, name, n < sizeof buf ? n : sizeof buf - 1);
		buf[n < sizeof buf ? n : sizeof buf - 1] = '\0';
		if (ss == NULL && nx__stage_builtin(buf) == NULL)
			return nx__err(NX_EINVAL, "pipeline %s: '%s' is not a node, a slot (%s.stage = "
				       "...) or a built-in stage", ps->s->name, buf, buf);
		if (ss == NULL && (ss = slot_get(ps->s, name, n)) == NULL)
			return NX_EINVAL;
		if (ss->stage[0] == '\0') {
			if (nx__stage_builtin(buf) == NULL || ss->plugin[0] != '\0')
				return nx__err(NX_EINVAL, "pipeline %s: slot %s has no stage "
					       "(%s.stage = ...)", ps->s->name, buf, buf);
			strcpy(ss->stage, buf);
		}
	}
	ss->referenced = true;
	node = new_node(ps);
	if (node < 0)
		return node;
	ps->s->nodes[node].kind = NX_NODE_STAGE;
	ps->s->nodes[node].slot = (uint16_t)(ss - ps->s->slots);
	return node;
}

/* A slot named in an option (by:, merge:). */
static int
option_slot(struct parser *ps, const char *name, size_t n)
{
	int node = leaf(ps, name, n);

	if (node < 0)
		return node;
	if (ps->s->nodes[node].kind != NX_NODE_STAGE)
		return perr(ps, "a selector or merge must be a slot, not a node");
	ps->s->nnodes--; /* only its slot was wanted */
	return ps->s->nodes[node].slot;
}

static int
parse_expr(struct parser *ps)
{
	uint16_t kids[NX_MAX_CHILDREN];
	uint32_t wts[NX_MAX_CHILDREN];
	const char *name, *oname, *oval;
	struct nx_node *nd;
	size_t n, on, ov;
	unsigned nk = 0, i;
	int kind, node, slot = -1, key = NX_SPLIT_CLIENT;

	if (++ps->depth > NX_MAX_DEPTH)
		return perr(ps, "nested more than 8 deep");
	n = ident(ps, &name);
	if (n == 0)
		return perr(ps, "expected a name");
	skip_ws(ps);
	kind = kind_of(name, n);
	if (*ps->p != '(' || kind == 0) {
		if (*ps->p == '(')
			return perr(ps, "unknown node kind (seq, branch, fanout, split, roundrobin)");
		node = leaf(ps, name, n);
		ps->depth--;
		return node;
	}
	ps->p++;
	for (;;) {
		int child = parse_expr(ps);
		char *end;
		long w = 1;

		if (child < 0)
			return child;
		skip_ws(ps);
		if (isdigit((unsigned char)*ps->p)) {
			w = strtol(ps->p, &end, 10);
			ps->p = end;
			if (kind != NX_NODE_SPLIT)
				return perr(ps, "only a split's children take weights");
			if (w <= 0 || w > 1000000)
				return perr(ps, "a weight must be 1 to 1000000");
			skip_ws(ps);
		}
		if (nk == NX_MAX_CHILDREN || nk == 255)
			return perr(ps, "too many children");
		kids[nk] = (uint16_t)child;
		wts[nk++] = (uint32_t)w;
		if (*ps->p == ',') {
			ps->p++;
			continue;
		}
		break;
	}
	if (*ps->p == ';') {
		ps->p++;
		for (;;) {
			on = ident(ps, &oname);
			skip_ws(ps);
			if (on == 0 || *ps->p != ':')
				return perr(ps, "expected an option (name: value)");
			ps->p++;
			ov = ident(ps, &oval);
			if (ov == 0)
				return perr(ps, "expected the option's value");
			if ((on == 2 && strncmp(oname, "by", 2) == 0 && kind == NX_NODE_BRANCH) ||
			    (on == 5 && strncmp(oname, "merge", 5) == 0 && kind == NX_NODE_FANOUT)) {
				int rc = option_slot(ps, oval, ov);

				if (rc < 0)
					return rc;
				slot = rc;
			} else if (on == 3 && strncmp(oname, "key", 3) == 0 && kind == NX_NODE_SPLIT) {
				if (ov == 6 && strncmp(oval, "client", 6) == 0)
					key = NX_SPLIT_CLIENT;
				else if (ov == 7 && strncmp(oval, "request", 7) == 0)
					key = NX_SPLIT_REQUEST;
				else
					return perr(ps, "key: client or request");
			} else {
				return perr(ps, "option not known for this kind (branch: by, "
					    "fanout: merge, split: key)");
			}
			skip_ws(ps);
			if (*ps->p == ',') {
				ps->p++;
				continue;
			}
			break;
		}
	}
	skip_ws(ps);
	if (*ps->p != ')')
		return perr(ps, "expected ')'");
	ps->p++;
	if ((kind == NX_NODE_BRANCH || kind == NX_NODE_FANOUT) && slot < 0)
		return perr(ps, kind == NX_NODE_BRANCH ? "a branch needs its selector (; by: SLOT)"
						     : "a fan-out needs its merge (; merge: SLOT)");
	if (kind == NX_NODE_SPLIT && nk < 2)
		return perr(ps, "a split needs two children or more");
	if (ps->s->nchildren + nk > NX_MAX_CHILDREN)
		return perr(ps, "more than 64 children in all");
	node = new_node(ps);
	if (node < 0)
		return node;
	nd = &ps->s->nodes[node];
	nd->kind = (uint8_t)kind;
	nd->nchild = (uint8_t)nk;
	nd->key = (uint8_t)key;
	nd->slot = slot >= 0 ? (uint16_t)slot : 0;
	nd->child0 = (uint16_t)ps->s->nchildren;
	for (i = 0; i < nk; i++) {
		ps->s->children[ps->s->nchildren + i] = kids[i];
		ps->s->weights[ps->s->nchildren + i] = wts[i];
		nd->wtotal += wts[i];
	}
	ps->s->nchildren += nk;
	ps->depth--;
	return node;
}

/* Parsing numbers nodes children first; the root must be node 0. */
static void
make_root_first(struct nx_pipe_spec *s, unsigned root)
{
	struct nx_node tmp;
	unsigned i;

	if (root == 0)
		return;
	tmp = s->nodes[0];
	s->nodes[0] = s->nodes[root];
	s->nodes[root] = tmp;
	for (i = 0; i < s->nchildren; i++) {
		if (s->children[i] == 0)
			s->children[i] = (uint16_t)root;
		else if (s->children[i] == root)
			s->children[i] = 0;
	}
}

int
nx__spec_finish(struct nx_pipe_spec *s)
{
	struct parser ps = { .s = s };
	unsigned i;
	int root;

	if (s->graph[0] == '\0')
		return nx__err(NX_EINVAL, "pipeline %s: no graph (graph = ...)", s->name);
	ps.p = ps.start = s->graph;
	ps.where = "graph";
	s->nnodes = s->nchildren = 0;
	root = parse_expr(&ps);
	if (root < 0)
		return root;
	skip_ws(&ps);
	if (*ps.p != '\0')
		return perr(&ps, "unexpected text after the graph");
	make_root_first(s, (unsigned)root);
	for (i = 0; i < s->nslots; i++) {
		struct nx_slot_spec *ss = &s->slots[i];

		if (!ss->referenced)
			return nx__err(NX_EINVAL, "pipeline %s: slot %s is not in the graph", s->name,
				       ss->name);
		if (ss->stage[0] == '\0')
			return nx__err(NX_EINVAL, "pipeline %s: slot %s has no stage (%s.stage = ...)",
				       s->name, ss->name, ss->name);
		{
			int rc = nx__policy_check(&ss->pol, s->name, ss->name);

			if (rc < 0)
				return rc;
		}
	}
	/* A selector answers with a child's index and a merge must write its
	 * answer: neither can be stood in for by passing the input through
	 * (skip) or by an answer kept for the same input (cache). */
	for (i = 0; i < s->nnodes; i++) {
		const struct nx_node *nd = &s->nodes[i];
		uint32_t deg;

		if (nd->kind != NX_NODE_BRANCH && nd->kind != NX_NODE_FANOUT)
			continue;
		deg = s->slots[nd->slot].pol.degraded;
		if (deg == NX_DEG_SKIP || deg == NX_DEG_CACHE)
			return nx__err(NX_EINVAL, "pipeline %s: slot %s is a %s: its degraded strategy "
				       "cannot be %s (use fail or fallback)", s->name,
				       s->slots[nd->slot].name,
				       nd->kind == NX_NODE_BRANCH ? "selector" : "merge",
				       deg == NX_DEG_SKIP ? "skip" : "cache");
	}
	return 0;
}

int
nx__spec_parse_text(struct nx_pipe_spec *s, const char *text)
{
	char line[512];
	int lineno = 0;

	while (*text != '\0') {
		const char *nl = strchr(text, '\n');
		size_t n = nl != NULL ? (size_t)(nl - text) : strlen(text);
		char *k, *v, *eq, *end;
		int rc;

		lineno++;
		if (n >= sizeof line)
			return nx__err(NX_EINVAL, "pipeline %s: line %d is too long", s->name, lineno);
		memcpy(line, text, n);
		line[n] = '\0';
		text += nl != NULL ? n + 1 : n;
		k = line;
		while (isspace((unsigned char)*k))
			k++;
		if (*k == '\0' || *k == '#' || *k == ';')
			continue;
		eq = strchr(k, '=');
		if (eq == NULL)
			return nx__err(NX_EINVAL, "pipeline %s: line %d: expected key = value", s->name,
				       lineno);
		v = eq + 1;
		end = eq;
		while (end > k && isspace((unsigned char)end[-1]))
			end--;
		*end = '\0';
		while (isspace((unsigned char)*v))
			v++;
		end = v + strlen(v);
		while (end > v && isspace((unsigned char)end[-1]))
			end--;
		*end = '\0';
		rc = nx__spec_set(s, k, v);
		if (rc < 0)
			return rc;
	}
	return 0;
}
