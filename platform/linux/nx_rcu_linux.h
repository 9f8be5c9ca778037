/*
 * liburcu QSBR, inlined into the worker loop. The flavour shows in the
 * calls: urcu_qsbr_quiescent_state, urcu_qsbr_thread_offline/online.
 *
 * Under ThreadSanitizer, liburcu (uninstrumented, ordering by its own
 * barriers) is invisible to the race detector. The wrappers then state
 * the ordering RCU guarantees in TSan's terms: publish is a release,
 * dereference an acquire, and a grace period orders every reader's
 * quiescent state before the writer's return from synchronize.
 */
#ifndef NX_RCU_LINUX_H
#define NX_RCU_LINUX_H

#ifndef _LGPL_SOURCE
#define _LGPL_SOURCE
#endif
#include <urcu/urcu-qsbr.h>

#include "nx_sanitizer.h"

#if NX_TSAN
extern char nx__rcu_gp_token;

static inline void
nx__rcu_quiescent(void)
{
	__tsan_release(&nx__rcu_gp_token); /* pairs with the acquire in nx__rcu_synchronize */
	urcu_qsbr_quiescent_state();
}

static inline void
nx__rcu_offline(void)
{
	__tsan_release(&nx__rcu_gp_token); /* pairs with the acquire in nx__rcu_synchronize */
	urcu_qsbr_thread_offline();
}

#define nx__rcu_assign(p, v) __atomic_store_n(&(p), (v), __ATOMIC_RELEASE)
#define nx__rcu_deref(p) __atomic_load_n(&(p), __ATOMIC_ACQUIRE)
#else
static inline void
nx__rcu_quiescent(void)
{
	urcu_qsbr_quiescent_state();
}

static inline void
nx__rcu_offline(void)
{
	urcu_qsbr_thread_offline();
}

#define nx__rcu_assign(p, v) rcu_assign_pointer((p), (v))
#define nx__rcu_deref(p) rcu_dereference(p)
#endif

static inline void
nx__rcu_online(void)
{
	urcu_qsbr_thread_online();
}

#endif /* NX_RCU_LINUX_H */
