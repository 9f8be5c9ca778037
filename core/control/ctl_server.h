/*
 * ctl_server.h - the control socket (ctl_server.c): nxd's listening
 * socket, the peers that have not attached, the attach and reclaim
 * handshakes, nxctl's commands and their replies, the clients' sockets
 * (their close is their detach), and the sweep once a second.
 */
#ifndef NX_CORE_CTL_SERVER_H
#define NX_CORE_CTL_SERVER_H

#include "core/control/instance.h"

/** Bind the instance's control socket and take its lock.
 *  @return 0, NX_EBUSY (another nxd serves it: which one, in the message),
 *  or the platform's error */
int nx__ctl_server_listen(struct nx_instance *inst);
/** The event loop, watching the listening socket and the notify fd.
 *  @return 0, NX_ENOMEM, or the platform's error */
int nx__ctl_server_start(struct nx_instance *inst);
/** Wait up to a second for events and serve them; sweep once a second.
 *  @return 0, or the event loop's error */
int nx__ctl_server_poll(struct nx_instance *inst);
/** Take no more connections (the stop). */
void nx__ctl_server_stop_listening(struct nx_instance *inst);
/** Close every peer's connection and drop its reply. */
void nx__ctl_server_drop_peers(struct nx_instance *inst);
/** Free the event loop and buffers. */
void nx__ctl_server_fini(struct nx_instance *inst);
/** Let the socket and lock go: the very last thing. */
void nx__ctl_server_unlisten(struct nx_instance *inst);

#endif /* NX_CORE_CTL_SERVER_H */
