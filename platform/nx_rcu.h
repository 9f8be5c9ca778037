/*
 * nx_rcu.h - read-copy-update for the control and data paths.
 *
 * nexus uses liburcu's QSBR flavour: readers (workers) pay nothing on the
 * read side; each marks a quiescent state once per poll loop and goes
 * offline while it sleeps. Writers (the control thread) publish with
 * nx__rcu_assign() and free the old version after nx__rcu_synchronize().
 *
 *   worker loop:  set = nx__rcu_deref(w->chans); ...; nx__rcu_quiescent();
 *   control:      nx__rcu_assign(w->chans, new); nx__rcu_synchronize(); free(old);
 *
 * Only readers registered with nx__rcu_register() are waited for.
 */
#ifndef NX_RCU_H
#define NX_RCU_H

#include "nx_platform.h"

/** Register the calling thread as an RCU reader (it starts online). */
void nx__rcu_register(void);
void nx__rcu_unregister(void);
/** Wait until every registered reader has passed a quiescent state. */
void nx__rcu_synchronize(void);

#if defined(__linux__)
#include "linux/nx_rcu_linux.h"
#else
#error "nexus: no RCU flavour for this OS"
#endif

#endif /* NX_RCU_H */
