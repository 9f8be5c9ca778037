/*
 * chantab.h - the channel table and the workers' channel sets (chantab.c),
 * on the control thread. A worker reads its set through RCU; a set
 * replaced, and a channel detached with it, go after a grace period.
 */
#ifndef NX_CORE_CHANTAB_H
#define NX_CORE_CHANTAB_H

#include "core/control/instance.h"

/** The table, after the health segment: orphans of a dead nxd kept for
 *  their clients to reclaim (reattached), or every entry cleared.
 *  @return 0 or NX_ENOMEM */
int nx__chantab_create(struct nx_instance *inst);
/** Close and unmap every channel, free the table (workers stopped). */
void nx__chantab_destroy(struct nx_instance *inst);

/** Free the sets, and release the channels, retired before a grace period
 *  that has passed (passed_only), or all of them (no worker reads). */
void nx__chantab_reclaim(struct nx_instance *inst, bool passed_only);
/** Room to retire one more set (finishing what has passed if need be). */
bool nx__chantab_room(struct nx_instance *inst);
/** Detaches deferred for want of room: again. */
void nx__chantab_detach_retry(struct nx_instance *inst);
/** "pid N", or words for a pid nxd cannot see (0), in buf. @return buf */
const char *nx__peer_who(int32_t pid, char *buf, size_t len);
/** Free the orphans whose client died (pid 0: not reclaimed in orphan_hold). */
void nx__chantab_sweep_orphans(struct nx_instance *inst);

/** May the peer hold one more channel? @return 0 or NX_EQUOTA with its message */
int nx__chantab_quota(const struct nx_instance *inst, const struct nx_peer_cred *c);
/** A free entry's id, or -1. */
int nx__chantab_free_slot(struct nx_instance *inst);
/** The worker serving the fewest channels. */
struct nx_worker *nx__chantab_least_loaded(struct nx_instance *inst);

/** A channel's rate limit from the configuration, before a worker serves it. */
void nx__chan_limits(struct nx_instance *inst, struct nx_wchan *ch);
/** Its health entry: who attached, how, when. */
void nx__chan_record(struct nx_instance *inst, struct nx_wchan *ch,
		     const struct nx_peer_cred *cred, uint32_t wait_mode);
/** Hand a mapped channel to its worker (ch->worker). @return 0, NX_EBUSY, NX_ENOMEM */
int nx__chan_serve(struct nx_instance *inst, struct nx_wchan *ch);
/** Its client is gone: stop watching it, take it from its worker; released
 *  after a grace period (deferred when no room: nx__chantab_detach_retry). */
void nx__chan_detach(struct nx_instance *inst, struct nx_wchan *ch, const char *why);
/** Unmap it and free its entry (no worker can reach it). */
void nx__chan_release(struct nx_instance *inst, struct nx_wchan *ch);

#endif /* NX_CORE_CHANTAB_H */
