/*
 * The built-in pipelines: C tables of "key=value" lines, read through the
 * same spec parser (pipe_parse.c) as [pipeline.NAME] sections.
 */
#include <string.h>

#include "core/pipeline/pipe.h"

static const struct nx_builtin_pipe {
	const char *name;
	const char *const keys[8]; /* "key=value", as in a [pipeline.NAME] section */
} builtin_pipes[] = {
	{ "echo", { "graph=echo" } },
	{ "checksum", { "graph=checksum" } },
	{ "noop3", { "graph=seq(n1, n2, n3)", "n1.stage=noop", "n2.stage=noop", "n3.stage=noop" } },
};

unsigned
nx__builtin_pipes(void)
{
	return sizeof builtin_pipes / sizeof builtin_pipes[0];
}

int
nx__builtin_pipe_spec(unsigned i, struct nx_pipe_spec *spec)
{
	const struct nx_builtin_pipe *b = &builtin_pipes[i];
	unsigned k;
	int rc;

	rc = nx__spec_init(spec, b->name);
	for (k = 0; rc == 0 && k < 8 && b->keys[k] != NULL; k++) {
		char key[64];
		const char *eq = strchr(b->keys[k], '=');
		size_t n = (size_t)(eq - b->keys[k]);

		memcpy(key, b->keys[k], n);
		key[n] = '\0';
		rc = nx__spec_set(spec, key, eq + 1);
	}
	return rc == 0 ? nx__spec_finish(spec) : rc;
}
