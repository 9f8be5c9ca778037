/* A test plugin with the plugin section but no nx_plugin symbol: nxd
 * loads it (the section says it is a plugin), finds no symbol, refuses
 * it and unloads it. */
#include <nx/nx_stage.h>

NX_PLUGIN_MARK(NX_STAGE_ABI);

int marknosym_marker(void);

int
marknosym_marker(void)
{
	return 7;
}
