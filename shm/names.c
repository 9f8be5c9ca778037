/* Instance and segment names. */
#include <stdio.h>
#include <string.h>

#include "shm_internal.h"

int
nx__instance_check(const char *instance)
{
	size_t i, n;

	if (instance == NULL)
		return nx__err(NX_EINVAL, "no instance name");
	n = strlen(instance);
	if (n == 0 || n > NX_INSTANCE_MAX)
		return nx__err(NX_EINVAL, "instance name must be 1 to %d characters", NX_INSTANCE_MAX);
	for (i = 0; i < n; i++) {
		char c = instance[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return nx__err(NX_EINVAL, "instance name '%s': character '%c' not allowed "
				       "(use letters, digits, '_', '-', '.')", instance, c);
	}
	if (instance[0] == '.')
		return nx__err(NX_EINVAL, "instance name '%s' may not start with '.'", instance);
	return 0;
}

void
nx__health_name(char *buf, size_t len, const char *instance)
{
	snprintf(buf, len, "/nx.%s.health", instance);
}
