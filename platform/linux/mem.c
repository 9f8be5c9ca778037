/* Allocation for core/ and shm/: the C library's heap (nx_platform.h). */
#include <stdlib.h>
#include <string.h>

#include "../nx_platform.h"

void *
nx__mem_alloc(size_t n)
{
	return malloc(n != 0 ? n : 1);
}

void *
nx__mem_zalloc(size_t n, size_t size)
{
	return calloc(n != 0 ? n : 1, size != 0 ? size : 1);
}

void *
nx__mem_realloc(void *p, size_t n)
{
	return realloc(p, n != 0 ? n : 1);
}

void *
nx__mem_aligned(size_t align, size_t n)
{
	size_t rounded = (n + align - 1) & ~(align - 1);

	if (rounded < n)
		return NULL;
	return aligned_alloc(align, rounded != 0 ? rounded : align);
}

char *
nx__mem_strdup(const char *s)
{
	return strdup(s);
}

void
nx__mem_free(void *p)
{
	free(p);
}
