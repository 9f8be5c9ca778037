/*
 * nxcall.h - the client tool's parts: what an answer says (decode.c),
 * how it is shown (print.c); main.c sends the requests.
 */
#ifndef NX_NXCALL_NXCALL_H
#define NX_NXCALL_NXCALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "platform/base/json.h"
#include "stages/retrieval/nxr_msg.h" /* the retrieval stages' message (NXR1) */


/* One ranked hit; title points into the answer's bytes (NXR_ANSWER only). */
struct nxcall_hit {
	uint32_t doc;
	float score;
	const uint8_t *title;
	uint16_t title_len;
};

/* An NXR1 message, its pointers into the bytes it was decoded from. */
struct nxcall_nxr {
	uint8_t kind;
	uint8_t route;
	uint16_t flags;
	const uint8_t *q;
	uint16_t qlen;
	uint16_t nhits;
	struct nxcall_hit hits[NXR_K_MAX];
};

/**
 * Decode an answer as NXR1. Every length is checked against len: the
 * bytes are whatever a stage wrote.
 * @return true when it is a well-formed NXR1 message, false otherwise
 *   (then it is shown as text)
 */
bool nxcall_nxr_decode(struct nxcall_nxr *m, const uint8_t *p, uint32_t len);

/** The route's name ("keyword"), or NULL for an unknown one. */
const char *nxcall_route_name(uint8_t route);

/** Print an answer readably: a ranked list for NXR1, else escaped text. */
void nxcall_print_answer(const uint8_t *p, uint32_t len, bool degraded);

/** The answer as JSON values under the open object: format, and what it holds. */
void nxcall_json_answer(struct nx_json *j, const uint8_t *p, uint32_t len);

#endif /* NX_NXCALL_NXCALL_H */
