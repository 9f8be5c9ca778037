/* Loading plugins: dlopen and dlsym. */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "../nx_platform.h"

int
nx_dl_open(void **out, const char *path, char *resolved, size_t rlen)
{
	char real[PATH_MAX];
	void *h;

	if (realpath(path, real) == NULL)
		return nx__err_sys(NX_ENOENT, errno, "plugin %s", path);
	h = dlopen(real, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL)
		return nx__err(NX_EINVAL, "plugin %s: %s", path, dlerror());
	if (resolved != NULL) {
		strncpy(resolved, real, rlen - 1);
		resolved[rlen - 1] = '\0';
	}
	*out = h;
	return 0;
}

void *
nx_dl_sym(void *h, const char *name)
{
	return dlsym(h, name);
}

void
nx_dl_close(void *h)
{
	if (h != NULL)
		dlclose(h);
}
