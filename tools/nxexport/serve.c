/*
 * nxexport's HTTP side, on libmicrohttpd: four read-only endpoints over
 * the texts the sampler last published. A request copies one text under
 * the lock and never touches the health segment, so no number of clients
 * costs nxd anything, and a scrape is as cheap as a memcpy.
 *
 * What a client may send is bounded by the library's options: the
 * connections at once (all, and per address), the memory of one
 * connection (a longer request line or header is refused with 414 or
 * 431 before it reaches us), and an idle timeout.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "nxexport.h"

/* Per connection: request line, headers and our small reply fit. */
#define NXEXPORT_CONN_MEMORY (16 * 1024)

struct nxexport_server {
	struct MHD_Daemon *d;
	struct nxexport_pub *pub;
	bool loopback; /* listening on a loopback address: check Host */
};

/*
 * A server on loopback answers only requests addressed to loopback: a web
 * page elsewhere can make a browser on this host send it requests under
 * its own name (DNS rebinding) and read the answers. Its Host header then
 * names that page's host. No Host (HTTP/1.0) is no browser's request.
 */
static bool
digits_only(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

static bool
host_is_loopback(const char *h)
{
	char name[64];
	const char *port;
	struct in_addr a;
	size_t n;

	if (h == NULL)
		return true;
	if (h[0] == '[') {
		const char *e = strchr(h, ']');

		if (e == NULL || (size_t)(e - h - 1) >= sizeof name)
			return false;
		n = (size_t)(e - h - 1);
		memcpy(name, h + 1, n);
		name[n] = '\0';
		port = e + 1;
		if (*port != '\0' && (*port != ':' || !digits_only(port + 1)))
			return false;
		return strcmp(name, "::1") == 0;
	}
	port = strchr(h, ':');
	n = port != NULL ? (size_t)(port - h) : strlen(h);
	if (n >= sizeof name || (port != NULL && !digits_only(port + 1)))
		return false;
	memcpy(name, h, n);
	name[n] = '\0';
	if (strcasecmp(name, "localhost") == 0)
		return true;
	return inet_pton(AF_INET, name, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

static const char csp[] =
	"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
	"connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
	"frame-ancestors 'none'";

static enum MHD_Result
reply(struct MHD_Connection *c, unsigned status, const char *type, const char *body, size_t len,
      bool page)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (page)
		MHD_add_response_header(r, "Content-Security-Policy", csp);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result
reply_str(struct MHD_Connection *c, unsigned status, const char *text)
{
	return reply(c, status, "text/plain; charset=utf-8", text, strlen(text), false);
}

/* One published text, copied under the lock (the sampler swaps them). */
static enum MHD_Result
reply_pub(struct MHD_Connection *c, struct nxexport_pub *pub, const struct nx_buf *which,
	  const unsigned *status, const char *type)
{
	static const char gone[] = "nxexport: no snapshot yet\n";
	enum MHD_Result rc;

	pthread_mutex_lock(&pub->lock);
	if (which->len == 0 || which->failed)
		rc = reply_str(c, MHD_HTTP_SERVICE_UNAVAILABLE, gone);
	else
		rc = reply(c, *status, type, which->p, which->len, false);
	pthread_mutex_unlock(&pub->lock);
	return rc;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
	   const char *version, const char *upload, size_t *upload_len, void **con_cls)
{
	struct nxexport_server *srv = cls;
	struct nxexport_pub *pub = srv->pub;

	(void)version;
	(void)upload;
	(void)upload_len;
	(void)con_cls;
	if (srv->loopback &&
	    !host_is_loopback(MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST)))
		return reply_str(c, 421, "nxexport: this server answers requests to a loopback "
					 "address only (Host names another host)\n");
	/* HEAD is GET without the body: the library leaves the body out */
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_str(c, MHD_HTTP_METHOD_NOT_ALLOWED,
				 "nxexport: only GET and HEAD; nothing here changes anything\n");
	if (strcmp(url, "/metrics") == 0)
		return reply_pub(c, pub, &pub->cur.metrics, &pub->cur.metrics_status,
				 "text/plain; version=0.0.4; charset=utf-8");
	if (strcmp(url, "/health") == 0)
		return reply_pub(c, pub, &pub->cur.health, &pub->cur.health_status,
				 "application/json");
	if (strcmp(url, "/api/snapshot") == 0)
		return reply_pub(c, pub, &pub->cur.snapshot, &pub->cur.snapshot_status,
				 "application/json");
	if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0)
		return reply(c, MHD_HTTP_OK, "text/html; charset=utf-8", nxexport_page,
			     (size_t)(nxexport_page_end - nxexport_page), true);
	return reply_str(c, MHD_HTTP_NOT_FOUND,
			 "nxexport: not found; try /, /metrics, /health or /api/snapshot\n");
}

static void on_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void
on_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	fputs("nxexport: ", stderr);
	vfprintf(stderr, fmt, ap);
}

struct nxexport_server *
nxexport_serve(struct nxexport_pub *pub, const struct nxexport_opts *o)
{
	struct nxexport_server *srv = calloc(1, sizeof *srv);
	unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;

	if (srv == NULL) {
		fprintf(stderr, "nxexport: out of memory\n");
		return NULL;
	}
	if (o->addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	srv->pub = pub;
	if (o->addr.ss_family == AF_INET)
		srv->loopback = (ntohl(((const struct sockaddr_in *)&o->addr)->sin_addr.s_addr) >> 24) == 127;
	else
		srv->loopback = IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)&o->addr)->sin6_addr);
	/* the logger first, or the library logs the options before it its own way */
	srv->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv,
		MHD_OPTION_EXTERNAL_LOGGER, on_log, NULL,
		MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&o->addr,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->max_conns,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)o->max_per_ip,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->timeout_s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)NXEXPORT_CONN_MEMORY,
		MHD_OPTION_END);
	if (srv->d == NULL) {
		free(srv);
		return NULL;
	}
	return srv;
}

unsigned
nxexport_port(const struct nxexport_server *srv)
{
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);

	return i != NULL ? i->port : 0;
}

void
nxexport_stop(struct nxexport_server *srv)
{
	if (srv == NULL)
		return;
	MHD_stop_daemon(srv->d);
	free(srv);
}
