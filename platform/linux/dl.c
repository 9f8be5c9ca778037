/* Loading plugins: dlopen and dlsym, on a file the caller checked. */
#include <dlfcn.h>
#include <errno.h>
#include <sys/stat.h>

#include "../nx_platform.h"

int
nx__dl_open(void **out, int fd, const char *real)
{
	struct stat a, b;
	void *h;

	/* the loader opens real by name: it must still be the file checked on
	 * fd (replacing it takes a trusted uid; this tells them apart) */
	if (fstat(fd, &a) != 0 || stat(real, &b) != 0 || a.st_dev != b.st_dev ||
	    a.st_ino != b.st_ino)
		return nx__err(NX_EPERM, "plugin %s changed while it was checked", real);
	h = dlopen(real, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL)
		return nx__err(NX_EINVAL, "plugin %s: %s", real, dlerror());
	*out = h;
	return 0;
}

void *
nx__dl_sym(void *h, const char *name)
{
	return dlsym(h, name);
}

void
nx__dl_close(void *h)
{
	if (h != NULL)
		dlclose(h);
}
