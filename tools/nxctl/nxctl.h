/* nxctl's commands that do more than ask nxd. */
#ifndef NX_TOOLS_NXCTL_H
#define NX_TOOLS_NXCTL_H

#include <stdbool.h>
#include <stdint.h>

#define NX_DLQ_PAYLOAD_MAX 512 /* what a dead letter keeps (NX_DLQ_PAYLOAD) */

/** nxctl dlq replay [ID...]: resubmit dead letters as a client. @return exit status */
int nxctl_dlq_replay(const char *instance, int argc, char **argv, bool json, uint64_t timeout_ns);

#endif
