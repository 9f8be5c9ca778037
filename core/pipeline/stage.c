/*
 * Stage instances on the control path: a stage found (built in, or in a
 * plugin loaded here), initialised, self-tested and probed; destroyed
 * after its grace period. Nothing here runs on a worker.
 */
#include <stdio.h>
#include <string.h>

#include "core/pipeline/pipe.h"
#include "platform/nx_platform.h"
#include "core/pipeline/pool.h"
#include "core/pipeline/stages.h"

/* ---- plugins ---- */

/* A loaded plugin, shared by every stage instance that came from it and
 * closed when the last one is destroyed. Control thread only. */
struct nx_plugin_ref {
	struct nx_plugin_ref *next;
	char path[NX_PLUGIN_PATH_MAX]; /* real path */
	uint64_t dev, ino;             /* the file it was loaded from */
	void *handle;
	const struct nx_plugin *plugin;
	unsigned refs;
};

static struct nx_plugin_ref *plugins;

/* real is under one of dirs ("DIR:DIR..."), or dirs is empty. */
static bool
plugin_dir_allowed(const char *real, const char *dirs)
{
	const char *d = dirs;

	if (dirs == NULL || dirs[0] == '\0')
		return true;
	while (*d != '\0') {
		const char *e = strchr(d, ':');
		size_t n = e != NULL ? (size_t)(e - d) : strlen(d);

		while (n > 1 && d[n - 1] == '/')
			n--;
		if (n != 0 && strncmp(real, d, n) == 0 && (real[n] == '/' || (n == 1 && d[0] == '/')))
			return true;
		d += n;
		while (*d == '/')
			d++;
		if (*d == ':')
			d++;
	}
	return false;
}

/*
 * Load a plugin, or take another reference to it. Before the loader runs
 * anything of the file (its constructors run inside dlopen), it must be
 * a regular file from a trusted place (nx__file_open, NX_FILE_TRUSTED),
 * under an allowed plugin directory when there are any, and carry a
 * .nx_plugin section of this stage ABI: a library that is not a plugin
 * is refused without running a line of it, and nothing changes.
 */
static int
plugin_get(struct nx_plugin_ref **out, const char *path, const char *dirs)
{
	struct nx_file_info fi;
	struct nx_plugin_mark mark;
	const struct nx_plugin *pl;
	struct nx_plugin_ref *r;
	size_t mlen;
	void *h;
	int fd, rc;

	fd = nx__file_open(path, NX_FILE_TRUSTED, NX_PLUGIN_MAX_BYTES, "plugin", &fi);
	if (fd < 0)
		return fd;
	if (!plugin_dir_allowed(fi.real, dirs)) {
		nx__fd_close(fd);
		return nx__err(NX_EPERM, "plugin %s (%s) is not in an allowed plugin directory "
			       "(plugin_dirs = %s)", path, fi.real, dirs);
	}
	for (r = plugins; r != NULL; r = r->next) {
		if (r->dev == fi.dev && r->ino == fi.ino) {
			nx__fd_close(fd);
			r->refs++;
			*out = r;
			return 0;
		}
		if (strcmp(r->path, fi.real) == 0) {
			/* the loader knows objects by name first: it would hand
			 * back the old code under the new file's checks */
			nx__fd_close(fd);
			return nx__err(NX_EBUSY, "plugin %s was replaced on disk while its previous "
				       "file is still loaded (a stage or a rollback uses it): install "
				       "the new one under a new file name", path);
		}
	}
	memset(&mark, 0, sizeof mark);
	rc = nx__elf_section(fd, NX_PLUGIN_SECTION, &mark, sizeof mark, &mlen);
	if (rc == NX_ENOENT)
		rc = nx__err(NX_EINVAL, "%s is not a nexus plugin: it has no %s section "
			     "(NX_PLUGIN(...) from <nx/nx_stage.h> puts it there); nothing of it "
			     "was run", path, NX_PLUGIN_SECTION);
	else if (rc < 0)
		rc = nx__err_ctx(rc, "plugin %s", path);
	else if (mlen != sizeof mark || memcmp(mark.magic, NX_PLUGIN_MAGIC, sizeof mark.magic) != 0)
		rc = nx__err(NX_EINVAL, "plugin %s: its %s section is malformed", path,
			     NX_PLUGIN_SECTION);
	else if (mark.abi != NX_STAGE_ABI)
		rc = nx__err(NX_EABI, "plugin %s was built for stage ABI %u; this nxd takes ABI %u: "
			     "rebuild it against this <nx/nx_stage.h>", path, mark.abi, NX_STAGE_ABI);
	if (rc < 0) {
		nx__fd_close(fd);
		return rc;
	}
	if (strlen(fi.real) >= sizeof r->path) {
		nx__fd_close(fd);
		return nx__err(NX_EINVAL, "plugin %s: its path is longer than %d bytes", path,
			       NX_PLUGIN_PATH_MAX - 1);
	}
	rc = nx__dl_open(&h, fd, fi.real);
	nx__fd_close(fd);
	if (rc < 0)
		return rc;
	pl = nx__dl_sym(h, NX_PLUGIN_SYMBOL);
	if (pl == NULL) {
		nx__dl_close(h);
		return nx__err(NX_EINVAL, "plugin %s exports no '%s' symbol (define it with "
			       "NX_PLUGIN(...) from <nx/nx_stage.h>)", path, NX_PLUGIN_SYMBOL);
	}
	if (pl->abi != NX_STAGE_ABI) {
		uint32_t abi = pl->abi;

		nx__dl_close(h);
		return nx__err(NX_EABI, "plugin %s was built for stage ABI %u; this nxd takes "
			       "ABI %u: rebuild it against this <nx/nx_stage.h>", path, abi,
			       NX_STAGE_ABI);
	}
	r = nx__mem_zalloc(1, sizeof *r);
	if (r == NULL) {
		nx__dl_close(h);
		return nx__err(NX_ENOMEM, "plugin %s", path);
	}
	snprintf(r->path, sizeof r->path, "%s", fi.real);
	r->dev = fi.dev;
	r->ino = fi.ino;
	r->handle = h;
	r->plugin = pl;
	r->refs = 1;
	r->next = plugins;
	plugins = r;
	*out = r;
	return 0;
}

static void
plugin_put(struct nx_plugin_ref *r)
{
	struct nx_plugin_ref **pp;

	if (r == NULL || --r->refs != 0)
		return;
	for (pp = &plugins; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	nx__dl_close(r->handle);
	nx__mem_free(r);
}

/* ---- stages ---- */

static uint64_t serials; /* stage instances made (control thread) */

static bool
ops_ok(const struct nx_stage_ops *ops)
{
	return ops != NULL && ops->abi == NX_STAGE_ABI && ops->process != NULL &&
	       ops->name != NULL;
}

int
nx__stage_resolve(const struct nx_slot_spec *ss, const char *plugin_dirs,
		  const struct nx_stage_ops **ops, struct nx_plugin_ref **plugin)
{
	struct nx_plugin_ref *r;
	uint32_t i;
	int rc;

	*plugin = NULL;
	if (ss->plugin[0] == '\0') {
		*ops = nx__stage_builtin(ss->stage);
		if (*ops == NULL)
			return nx__err(NX_ENOENT, "no built-in stage '%s' (built in: %s)", ss->stage,
				       nx__stage_builtin_names());
		return 0;
	}
	rc = plugin_get(&r, ss->plugin, plugin_dirs);
	if (rc < 0)
		return rc;
	for (i = 0; i < r->plugin->nstages; i++) {
		const struct nx_stage_ops *o = r->plugin->stages[i];

		if (o != NULL && o->name != NULL && strcmp(o->name, ss->stage) == 0) {
			if (!ops_ok(o)) {
				plugin_put(r);
				return nx__err(NX_EINVAL, "plugin %s: stage %s is malformed (ABI %u, "
					       "process %s)", ss->plugin, ss->stage, o->abi,
					       o->process ? "set" : "missing");
			}
			*ops = o;
			*plugin = r;
			return 0;
		}
	}
	plugin_put(r);
	return nx__err(NX_ENOENT, "plugin %s has no stage '%s'", ss->plugin, ss->stage);
}

/* Run the probe through a new instance, on this (control) thread. */
static int
probe(const struct nx_stage_inst *si, const struct nx_build_env *env)
{
	uint8_t *out;
	struct nx_ctx ctx;
	struct nx_msg m;
	int rc;

	out = nx__mem_alloc(env->max_payload);
	if (out == NULL)
		return nx__err(NX_ENOMEM, "probe");
	memset(&ctx, 0, sizeof ctx);
	ctx.stage_version = si->version;
	m = (struct nx_msg){ .in = env->probe, .in_len = env->probe_len, .out = out,
			     .out_cap = env->max_payload };
	rc = si->ops->process(si->state, &m, &ctx);
	nx__mem_free(out);
	if (rc < 0)
		return nx__err(rc, "the probe request failed: %s", nx_strerror(rc));
	if (rc == 0 && m.out_len > m.out_cap)
		return nx__err(NX_EOVERFLOW, "the probe's answer overflowed its buffer");
	return 0;
}

int
nx__stage_inst_create(struct nx_stage_inst **out, const struct nx_slot_spec *ss,
		      uint64_t version, const struct nx_build_env *env)
{
	const char *keys[NX_MAX_PARAMS], *vals[NX_MAX_PARAMS];
	struct nx_stage_conf conf = { .n = ss->nparams, .keys = keys, .vals = vals };
	struct nx_pool *pool = env != NULL ? env->inst_pool : NULL;
	const struct nx_stage_ops *ops;
	struct nx_plugin_ref *plugin;
	struct nx_stage_inst *si;
	unsigned i;
	int rc;

	rc = nx__stage_resolve(ss, env != NULL ? env->plugin_dirs : NULL, &ops, &plugin);
	if (rc < 0)
		return rc;
	if (pool != NULL && ops->state_bytes > env->state_bytes) {
		plugin_put(plugin);
		return nx__err(NX_ENOSPC, "stage %s wants %u bytes of state; stage_state is %u",
			       ss->stage, ops->state_bytes, env->state_bytes);
	}
	si = pool != NULL ? nx__pool_get(pool) : nx__mem_zalloc(1, sizeof *si + ops->state_bytes);
	if (si == NULL) {
		plugin_put(plugin);
		return pool != NULL ? NX_ENOSPC : nx__err(NX_ENOMEM, "stage %s", ss->stage);
	}
	si->pool = pool;
	si->spec = *ss;
	si->version = version;
	si->serial = ++serials; /* from 1: a zeroed policy state belongs to none */
	si->ops = ops;
	si->plugin = plugin;
	if (ops->state_bytes != 0)
		si->state = si->inline_state;
	for (i = 0; i < ss->nparams; i++) {
		keys[i] = si->spec.keys[i];
		vals[i] = si->spec.vals[i];
	}
	if (si->ops->init != NULL) {
		rc = si->ops->init(&si->state, &conf);
		if (rc < 0) {
			rc = nx__err(rc, "stage %s: init failed: %s", ss->stage, nx_strerror(rc));
			goto err_plugin;
		}
	}
	if (si->ops->selftest != NULL) {
		rc = si->ops->selftest(si->state);
		if (rc < 0) {
			rc = nx__err(rc, "stage %s: its self-test failed: %s", ss->stage,
				     nx_strerror(rc));
			goto err_fini;
		}
	}
	if (env != NULL && env->probe != NULL) {
		rc = probe(si, env);
		if (rc < 0) {
			rc = nx__err_ctx(rc, "stage %s", ss->stage);
			goto err_fini;
		}
	}
	*out = si;
	return 0;

err_fini:
	if (si->ops->fini != NULL)
		si->ops->fini(si->state);
err_plugin:
	plugin_put(si->plugin);
	if (si->pool != NULL)
		nx__pool_put(si->pool, si);
	else
		nx__mem_free(si);
	return rc;
}

void
nx__stage_inst_destroy(struct nx_stage_inst *si)
{
	if (si == NULL)
		return;
	if (si->ops->fini != NULL)
		si->ops->fini(si->state);
	plugin_put(si->plugin);
	if (si->pool != NULL)
		nx__pool_put(si->pool, si);
	else
		nx__mem_free(si);
}
