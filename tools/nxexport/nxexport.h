/*
 * nxexport.h - what nxexport's parts share: the texts the sampler
 * (main.c) renders from the health reader and the HTTP server (serve.c)
 * hands out, and the dashboard page embedded in the binary (page.c).
 */
#ifndef NX_TOOLS_NXEXPORT_H
#define NX_TOOLS_NXEXPORT_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "platform/base/buf.h"

/* One rendering of a snapshot: each endpoint's body and HTTP status. */
struct nxexport_texts {
	struct nx_buf metrics;      /* Prometheus text, or why there is none */
	struct nx_buf snapshot;     /* nxtop's JSON, or {"error":...} */
	struct nx_buf health;       /* the verdict as JSON */
	unsigned metrics_status, snapshot_status, health_status;
};

/* The latest texts, swapped in whole by the sampler under the lock. */
struct nxexport_pub {
	pthread_mutex_t lock;
	struct nxexport_texts cur;
};

struct nxexport_opts {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	unsigned max_conns;         /* connections at once, all clients */
	unsigned max_per_ip;        /* connections at once from one address */
	unsigned timeout_s;         /* an idle connection is closed after this */
};

struct nxexport_server;

/**
 * Serve pub on opts' address, in threads of libmicrohttpd's own; the
 * caller has blocked the signals those threads must not take.
 * @return the server, or NULL (the reason on stderr)
 */
struct nxexport_server *nxexport_serve(struct nxexport_pub *pub, const struct nxexport_opts *o);
/** The port served (what port 0 became). */
unsigned nxexport_port(const struct nxexport_server *srv);
/** Stop serving: close the socket, finish the connections, join the threads. */
void nxexport_stop(struct nxexport_server *srv);

/* The dashboard: one HTML page, its scripts and styles inline (page.c). */
extern const char nxexport_page[];
extern const char nxexport_page_end[];

#endif /* NX_TOOLS_NXEXPORT_H */
