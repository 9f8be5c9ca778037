/* A test plugin that forgot NX_PLUGIN: nxd must refuse it. */
int nosymbol_plugin_marker(void);

int
nosymbol_plugin_marker(void)
{
	return 42;
}
