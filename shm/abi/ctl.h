/*
 * shm/abi/ctl.h - the control socket's messages: SOCK_SEQPACKET, one
 * message per datagram, at <rundir>/<instance>.ctl.
 *
 *   client                                nxd
 *   ATTACH {version, wait_mode}  ------->  creates its channel
 *                                <-------  OK {chan_id, generation} + memfd
 *                                          or ERROR {code, text}
 *   RECLAIM {version, chan_id} + memfd ->  after an nxd restart
 *                                <-------  OK / ERROR
 *   nxctl: COMMAND {argc, args}  ------->  REPLY chunks (or ERROR)
 *
 * Every message starts with struct nx_ctl_msg; its abi_version carries
 * NX_CTL_VERSION (version.h). Nothing in a received message is trusted:
 * its size, type and every count are checked (shm/attach.c).
 */
#ifndef NX_SHM_ABI_CTL_H
#define NX_SHM_ABI_CTL_H

#include <stddef.h>
#include <stdint.h>

#include "version.h"

#define NX_CTL_ATTACH 1  /* client -> nxd: create my channel */
#define NX_CTL_RECLAIM 2 /* client -> nxd (+ channel fd): take my channel back */
#define NX_CTL_OK 3      /* nxd -> client (+ channel fd on attach) */
#define NX_CTL_ERROR 4   /* nxd -> client */
#define NX_CTL_COMMAND 5 /* nxctl -> nxd: struct nx_ctl_cmd */
#define NX_CTL_REPLY 6   /* nxd -> nxctl: struct nx_ctl_reply, in chunks */

struct nx_ctl_msg {
	uint32_t type;        /* NX_CTL_* */
	uint32_t abi_version; /* sender's NX_CTL_VERSION */
	int32_t status;       /* ERROR: the NX_E* code */
	uint32_t wait_mode;   /* ATTACH: enum nx_wait */
	uint32_t chan_id;     /* RECLAIM, OK */
	uint32_t reserved0;
	uint64_t generation;  /* OK: nxd's generation */
	char text[160];       /* ERROR: what was wrong, for the user */
};
_Static_assert(offsetof(struct nx_ctl_msg, generation) == 24, "generation at 24");
_Static_assert(offsetof(struct nx_ctl_msg, text) == 32, "text at 32");
_Static_assert(sizeof(struct nx_ctl_msg) == 192, "control message size");

/* An nxctl command: the header (type NX_CTL_COMMAND), then argc
 * NUL-terminated arguments in len bytes. */
#define NX_CTL_CMD_JSON 0x1u  /* in wait_mode: answer in JSON */
#define NX_CTL_CMD_MAX 16384  /* bytes of arguments */

struct nx_ctl_cmd {
	struct nx_ctl_msg hdr;
	uint32_t argc;
	uint32_t len;
	char args[NX_CTL_CMD_MAX];
};
_Static_assert(offsetof(struct nx_ctl_cmd, args) == 200, "arguments after 8 bytes of counts");

/* nxd's answer: the header (type NX_CTL_REPLY; status 0 or the error),
 * len bytes of text; more != 0 when another chunk follows. */
#define NX_CTL_REPLY_CHUNK 32768
#define NX_CTL_REPLY_MAX (16u << 20) /* a whole reply, every chunk: nxd refuses
				      * to build more, clients to read more */

struct nx_ctl_reply {
	struct nx_ctl_msg hdr;
	uint32_t len;
	uint32_t more;
	char text[NX_CTL_REPLY_CHUNK];
};
_Static_assert(offsetof(struct nx_ctl_reply, text) == 200, "text after 8 bytes of counts");

#endif /* NX_SHM_ABI_CTL_H */
