/* A shared object that is not a plugin, whose constructor kills the
 * process that loads it: nxd must refuse it without running any of it. */
#include <unistd.h>

__attribute__((constructor)) static void
notplugin_ctor(void)
{
	_exit(77);
}

int notplugin_marker(void);

int
notplugin_marker(void)
{
	return 1;
}
