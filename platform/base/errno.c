/*
 * nx_strerror and nx_err_name, generated from NX_ERRNO_MAP. Portable, and
 * below the platform's error messages (err.c), which name a code when
 * there is no message yet.
 */
#include <nx/nx.h>

const char *
nx_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
#define NX__ERR_STR(name, val, msg)                                            \
	case (val):                                                            \
		return (msg);
		NX_ERRNO_MAP(NX__ERR_STR)
#undef NX__ERR_STR
	default:
		return "unknown error";
	}
}

const char *
nx_err_name(int err)
{
	switch (err) {
	case 0:
		return "OK";
#define NX__ERR_NAME(name, val, msg)                                           \
	case (val):                                                            \
		return #name;
		NX_ERRNO_MAP(NX__ERR_NAME)
#undef NX__ERR_NAME
	default:
		return "UNKNOWN";
	}
}
