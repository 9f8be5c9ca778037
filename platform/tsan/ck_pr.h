/*
 * ck_pr.h for ThreadSanitizer builds only (make tsan puts this directory
 * first on the include path).
 *
 * ck's x86_64 port implements loads, stores and fences in inline
 * assembly, which TSan cannot see, so every hand-off through a ck ring
 * would be reported as a race. This replacement keeps ck's API and
 * implements it with compiler atomics: every load acquires and every store
 * releases (stronger than ck promises, never weaker). A fence is a locked
 * read-modify-write of a thread-local word: a full barrier for the CPU
 * (TSan does not model atomic_thread_fence, and GCC refuses it under
 * TSan), and, the word being private, no false happens-before between
 * threads for TSan. TSan then checks the same algorithms ck runs in the
 * release build.
 */
#ifndef CK_PR_H
#define CK_PR_H

#include <ck_cc.h>
#include <ck_limits.h>
#include <ck_md.h>
#include <ck_stdbool.h>
#include <ck_stdint.h>

#define CK_F_PR

CK_CC_INLINE static void
ck_pr_barrier(void)
{
	__asm__ __volatile__("" ::: "memory");
}

CK_CC_INLINE static void
ck_pr_stall(void)
{
	ck_pr_barrier();
}

static __thread unsigned int ck_pr_tsan_fence_word;

#define CK_PR_TSAN_FENCE(T)                                                    \
	CK_CC_INLINE static void ck_pr_fence_##T(void)                        \
	{                                                                      \
		(void)__atomic_fetch_add(&ck_pr_tsan_fence_word, 0, __ATOMIC_SEQ_CST); \
	}                                                                      \
	CK_CC_INLINE static void ck_pr_fence_strict_##T(void)                 \
	{                                                                      \
		(void)__atomic_fetch_add(&ck_pr_tsan_fence_word, 0, __ATOMIC_SEQ_CST); \
	}

CK_PR_TSAN_FENCE(atomic)
CK_PR_TSAN_FENCE(atomic_atomic)
CK_PR_TSAN_FENCE(atomic_load)
CK_PR_TSAN_FENCE(atomic_store)
CK_PR_TSAN_FENCE(store_atomic)
CK_PR_TSAN_FENCE(load_atomic)
CK_PR_TSAN_FENCE(load)
CK_PR_TSAN_FENCE(load_load)
CK_PR_TSAN_FENCE(load_store)
CK_PR_TSAN_FENCE(store)
CK_PR_TSAN_FENCE(store_store)
CK_PR_TSAN_FENCE(store_load)
CK_PR_TSAN_FENCE(memory)
CK_PR_TSAN_FENCE(acquire)
CK_PR_TSAN_FENCE(release)
CK_PR_TSAN_FENCE(acqrel)
CK_PR_TSAN_FENCE(lock)
CK_PR_TSAN_FENCE(unlock)
CK_PR_TSAN_FENCE(load_depends)
#undef CK_PR_TSAN_FENCE

#define CK_PR_TSAN_OPS(S, T)                                                   \
	CK_CC_INLINE static T ck_pr_load_##S(const T *t)                      \
	{                                                                      \
		return __atomic_load_n(t, __ATOMIC_ACQUIRE);                   \
	}                                                                      \
	CK_CC_INLINE static void ck_pr_store_##S(T *t, T v)                   \
	{                                                                      \
		__atomic_store_n(t, v, __ATOMIC_RELEASE);                      \
	}                                                                      \
	CK_CC_INLINE static bool ck_pr_cas_##S(T *t, T c, T s)                \
	{                                                                      \
		return __atomic_compare_exchange_n(t, &c, s, false,            \
		    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);                       \
	}                                                                      \
	CK_CC_INLINE static bool ck_pr_cas_##S##_value(T *t, T c, T s, T *v)  \
	{                                                                      \
		bool r = __atomic_compare_exchange_n(t, &c, s, false,          \
		    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);                       \
		*v = c;                                                        \
		return r;                                                      \
	}                                                                      \
	CK_CC_INLINE static T ck_pr_faa_##S(T *t, T d)                        \
	{                                                                      \
		return __atomic_fetch_add(t, d, __ATOMIC_SEQ_CST);             \
	}                                                                      \
	CK_CC_INLINE static T ck_pr_fas_##S(T *t, T v)                        \
	{                                                                      \
		return __atomic_exchange_n(t, v, __ATOMIC_SEQ_CST);            \
	}                                                                      \
	CK_CC_INLINE static void ck_pr_add_##S(T *t, T d)                     \
	{                                                                      \
		(void)__atomic_fetch_add(t, d, __ATOMIC_SEQ_CST);              \
	}                                                                      \
	CK_CC_INLINE static void ck_pr_sub_##S(T *t, T d)                     \
	{                                                                      \
		(void)__atomic_fetch_sub(t, d, __ATOMIC_SEQ_CST);              \
	}                                                                      \
	CK_CC_INLINE static void ck_pr_inc_##S(T *t)                          \
	{                                                                      \
		(void)__atomic_fetch_add(t, 1, __ATOMIC_SEQ_CST);              \
	}                                                                      \
	CK_CC_INLINE static void ck_pr_dec_##S(T *t)                          \
	{                                                                      \
		(void)__atomic_fetch_sub(t, 1, __ATOMIC_SEQ_CST);              \
	}                                                                      \
	CK_CC_INLINE static void ck_pr_or_##S(T *t, T v)                      \
	{                                                                      \
		(void)__atomic_fetch_or(t, v, __ATOMIC_SEQ_CST);               \
	}                                                                      \
	CK_CC_INLINE static void ck_pr_and_##S(T *t, T v)                     \
	{                                                                      \
		(void)__atomic_fetch_and(t, v, __ATOMIC_SEQ_CST);              \
	}

CK_PR_TSAN_OPS(uint, unsigned int)
CK_PR_TSAN_OPS(int, int)
CK_PR_TSAN_OPS(char, char)
CK_PR_TSAN_OPS(64, uint64_t)
CK_PR_TSAN_OPS(32, uint32_t)
CK_PR_TSAN_OPS(16, uint16_t)
CK_PR_TSAN_OPS(8, uint8_t)
#undef CK_PR_TSAN_OPS

CK_CC_INLINE static void *
ck_pr_load_ptr(const void *t)
{
	return __atomic_load_n((void *const *)t, __ATOMIC_ACQUIRE);
}

CK_CC_INLINE static void
ck_pr_store_ptr(void *t, const void *v)
{
	__atomic_store_n((void **)t, CK_CC_DECONST_PTR(v), __ATOMIC_RELEASE);
}

CK_CC_INLINE static bool
ck_pr_cas_ptr(void *t, void *c, void *s)
{
	return __atomic_compare_exchange_n((void **)t, &c, s, false, __ATOMIC_SEQ_CST,
	    __ATOMIC_SEQ_CST);
}

CK_CC_INLINE static bool
ck_pr_cas_ptr_value(void *t, void *c, void *s, void *v)
{
	bool r = __atomic_compare_exchange_n((void **)t, &c, s, false, __ATOMIC_SEQ_CST,
	    __ATOMIC_SEQ_CST);
	*(void **)v = c;
	return r;
}

#endif /* CK_PR_H */
