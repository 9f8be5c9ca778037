/* Which sanitizer this translation unit is built with. */
#ifndef NX_SANITIZER_H
#define NX_SANITIZER_H

#if defined(__SANITIZE_THREAD__)
#define NX_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define NX_TSAN 1
#endif
#endif
#ifndef NX_TSAN
#define NX_TSAN 0
#endif

#if defined(__SANITIZE_ADDRESS__)
#define NX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NX_ASAN 1
#endif
#endif
#ifndef NX_ASAN
#define NX_ASAN 0
#endif

#if NX_TSAN
#include <sanitizer/tsan_interface.h>
#endif

#endif /* NX_SANITIZER_H */
