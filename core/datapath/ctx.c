/* Request context helpers for stages, and stage parameters. */
#include <string.h>

#include <nx/nx_stage.h>

int
nx_ctx_set(struct nx_ctx *ctx, const char *key, const void *val, uint32_t len)
{
	size_t klen = strlen(key);
	uint32_t i;

	if (klen == 0 || klen >= NX_CTX_KEY_MAX)
		return NX_EINVAL;
	if (len > NX_CTX_VAL_MAX)
		return NX_E2BIG;
	for (i = 0; i < ctx->nmeta; i++)
		if (strcmp(ctx->meta[i].key, key) == 0)
			break;
	if (i == ctx->nmeta) {
		if (ctx->nmeta == NX_CTX_META_MAX)
			return NX_ENOSPC;
		memcpy(ctx->meta[i].key, key, klen + 1);
		ctx->nmeta++;
	}
	memcpy(ctx->meta[i].val, val, len);
	ctx->meta[i].len = len;
	return 0;
}

int
nx_ctx_get(const struct nx_ctx *ctx, const char *key, const void **val, uint32_t *len)
{
	uint32_t i;

	for (i = 0; i < ctx->nmeta && i < NX_CTX_META_MAX; i++) {
		if (strcmp(ctx->meta[i].key, key) == 0) {
			*val = ctx->meta[i].val;
			*len = ctx->meta[i].len;
			return 0;
		}
	}
	return NX_ENOENT;
}

const char *
nx_stage_conf_get(const struct nx_stage_conf *conf, const char *key, const char *def)
{
	unsigned i;

	if (conf == NULL)
		return def;
	for (i = 0; i < conf->n; i++)
		if (strcmp(conf->keys[i], key) == 0)
			return conf->vals[i];
	return def;
}
