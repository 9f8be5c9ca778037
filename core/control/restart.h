/*
 * restart.h - what a supervised restart needs (restart.c): the restart
 * log in the health segment, written from what nxwd said
 * (conf.wd), and nxwd's life locks, held by every thread of nxd.
 */
#ifndef NX_CORE_RESTART_H
#define NX_CORE_RESTART_H

#include "core/control/instance.h"

/** Log this start in the health segment's restart ring: it follows an
 *  nxd (old_pid) that went away. */
void nx__restart_log(struct nx_instance *inst, int32_t old_pid);
/** Workers serve: the logged restart is complete; say how long it was down. */
void nx__restart_log_served(struct nx_instance *inst);

/** Under nxwd (conf.wd.life_fd): map its life locks, hold the control
 *  thread's. A warning without them, no more: nxwd still has the pidfd. */
void nx__restart_life_open(struct nx_instance *inst);
/** Every thread holds its lock (workers started): nxwd may watch them. */
void nx__restart_life_arm(struct nx_instance *inst);
/** Let the control thread's lock go and unmap them. */
void nx__restart_life_close(struct nx_instance *inst);

#endif /* NX_CORE_RESTART_H */
