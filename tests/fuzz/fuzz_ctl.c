/*
 * fuzz_ctl - every control-socket message nxd or a client parses.
 *
 * Input: byte 0 picks the side (below; 0x04 asks the session for JSON),
 * then records, each one datagram:
 *
 *   [flags u8][len u16 little-endian][len bytes]   (a short last one: as is)
 *
 *   flags 0x01  pass a descriptor with it (SCM_RIGHTS): a marker memfd, or
 *         0x02  with 0x01, in mode 0, the channel an ATTACH got (if any)
 *         0x04  mode 1: read this one with no chan_fd (as a reclaim does)
 *         0x08  mode 0: send it on the last attached channel's connection
 *               (nxd detaches the channel), not on the command connection
 *
 * At most 64 records. Every datagram also goes through (a).
 *
 *   (a) nx__ctl_parse_command (core/control/ctl_msg.h) on the datagram, as nxd's
 *       peer_command calls it, in a heap buffer of exactly its size.
 *   mode 0 (b): an nxd in this process (nx__instance_create, 1 worker,
 *       idle sleep, small limits, a pipeline with a breaker, dead letters
 *       written at start; nx__instance_run on its own thread from
 *       LLVMFuzzerInitialize, stopped at exit). Each datagram is sent on a
 *       connection to its control socket (nx__ctl_connect; again after nxd
 *       closed it), and its answer read (8 s at most: more is a hang):
 *       OK or ERROR, or reply chunks up to the last. A connection whose
 *       ATTACH was answered OK is its channel's: it stays open (the channel
 *       attached, for the commands that follow) and the next datagram goes
 *       on a new connection. At the end of the input every channel is
 *       closed, and the input ends when every channel is free again and
 *       nxd holds no marker descriptor.
 *   mode 1 (c): the client's nx__ctl_read_reply, on datagrams sent through
 *       a socketpair(AF_UNIX, SOCK_SEQPACKET) (then closed): what nxd
 *       answers to ATTACH and RECLAIM.
 *   mode 2 (c): the reply-chunk loop of nx__ctl_session_command: a
 *       session opened on an instance of this process that is no nxd
 *       (its own health segment, its own listener) answers `list` with
 *       the datagrams, then closes.
 *   mode 3: (a) alone.
 *
 * State: the nxd lives across inputs (pipelines swapped, dead letters
 * drained, breakers forced stay so); an input that crashes only after
 * others may need them, in the same order (libFuzzer's crash artifact is
 * the last one; `-runs` over the corpus replays them).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nx/nx.h>

#include "core/control/ctl_msg.h"
#include "core/nxd.h"
#include "core/control/segment.h"
#include "shm/attach.h"
#include "shm/monitor/ctl_session.h"
#include "fuzz_common.h"

#define FZ_MAX_RECORDS 64
#define FZ_REPLY_NS 8000000000ull      /* nxd answers within this, or it hangs */
#define FZ_SETTLE_NS 20000000000ull    /* channels freed, descriptors closed */
#define FZ_MARKER "nxfz-ctl-pass"

static char nxd_name[NX_INSTANCE_MAX + 1];  /* the in-process nxd */
static char fake_name[NX_INSTANCE_MAX + 1]; /* the listener that is not nxd */
static struct nx_instance *inst;
static pthread_t control;
static bool running;
static struct nx_health_view nxd_hv;        /* the nxd's, read-only */
static struct nx_health_view fake_hv;       /* the fake instance's, ours */
static int fake_lfd = -1;
static int marker = -1;
static struct nx_ctl_reply *rbuf;
static bool trace;                          /* NXFUZZ_LOG: say what nxd answered */

static void *
control_main(void *arg)
{
	(void)arg;
	nx__instance_run(inst, false);
	return NULL;
}

static void
cleanup(void)
{
	if (running) {
		nx__instance_stop(inst);
		pthread_join(control, NULL);
		running = false;
	}
	nx__health_unmap(&nxd_hv);
	if (inst != NULL)
		nx__instance_destroy(inst);
	inst = NULL;
	nx__fd_close(fake_lfd);
	fake_lfd = -1;
	nx__health_unmap(&fake_hv);
	nx__health_remove(fake_name);
	nx__fd_close(marker);
	marker = -1;
	free(rbuf);
	rbuf = NULL;
}

static void
must(int rc, const char *what)
{
	if (rc < 0) {
		fprintf(stderr, "fuzz_ctl: %s: %s\n", what, nx__errmsg());
		exit(1);
	}
}

static void
conf_pipe(struct nx_instance_conf *c, const char *pipe, const char *key, const char *value)
{
	must(nx__instance_conf_pipeline(c, pipe, key, value), "pipeline");
}

/* Requests that fail: what `dlq list` then has to show. */
static void
write_dead_letters(void)
{
	static uint8_t big[700];
	struct nx_open_opts o = { 0 };
	struct nx_client *cl;
	uint8_t out[64];
	uint32_t out_len, i;
	int id;

	o.wait = NX_WAIT_SLEEP;
	must(nx_open(&cl, nxd_name, &o), "nx_open");
	id = nx_pipeline_id(cl, "fzfail");
	must(id, "nx_pipeline_id fzfail");
	memset(big, 'z', sizeof big);
	for (i = 0; i < 5; i++)
		(void)nx_call(cl, (uint16_t)id, big, i * 150, out, sizeof out, &out_len,
			      5000000000ull);
	nx_close(cl);
}

static void
start_nxd(void)
{
	struct nx_instance_conf c;
	static const char *const settings[][2] = {
		{ "workers", "1" },       { "idle", "sleep" },     { "quiet", "yes" },
		{ "max_channels", "4" },  { "ring_size", "16" },   { "arena", "64k" },
		{ "max_payload", "4k" },  { "max_slots", "64" },   { "scratch", "64k" },
		{ "stage_state", "1k" },  { "dlq_entries", "8" },  { "stop_timeout", "30" },
		{ "plugin_dirs", "/nonexistent/nxfuzz" }, /* never load a plugin */
	};
	unsigned i;

	nx__instance_conf_default(&c);
	must(nx__instance_conf_set(&c, "instance", nxd_name), "instance");
	for (i = 0; i < sizeof settings / sizeof settings[0]; i++)
		must(nx__instance_conf_set(&c, settings[i][0], settings[i][1]), settings[i][0]);
	conf_pipe(&c, "fz", "graph", "seq(a, b)");
	conf_pipe(&c, "fz", "a.stage", "echo");
	conf_pipe(&c, "fz", "a.breaker", "count");
	conf_pipe(&c, "fz", "b.stage", "tag");
	conf_pipe(&c, "fz", "b.text", "!");
	conf_pipe(&c, "fzfail", "graph", "f");
	conf_pipe(&c, "fzfail", "f.stage", "fail");
	must(nx__instance_conf_finish(&c), "conf");
	must(nx__instance_create(&inst, &c), "nx__instance_create");
	nx__instance_conf_release(&c);
	if (pthread_create(&control, NULL, control_main, NULL) != 0) {
		fprintf(stderr, "fuzz_ctl: pthread_create failed\n");
		exit(1);
	}
	running = true;
	must(nx__health_map_ro(&nxd_hv, nxd_name), "map the health segment");
	write_dead_letters();
}

/* A listener and a health segment of this process's uid: a session's
 * checks pass, and what it reads is what the input says. */
static void
start_fake(void)
{
	struct nx_health_geom g;
	bool re;
	int lock_fd;

	fake_lfd = nx__ctl_listen(fake_name, &lock_fd);
	must(fake_lfd, "listen");
	nx__health_geom(&g, 1, 1, 1, 1);
	must(nx__health_create(&fake_hv, fake_name, &g, &re), "fake health segment");
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_quiet_logs();
	fz_sweep_stale();
	trace = getenv("NXFUZZ_LOG") != NULL;
	fz_instance_name(nxd_name, sizeof nxd_name, "n");
	fz_instance_name(fake_name, sizeof fake_name, "c");
	rbuf = malloc(sizeof *rbuf);
	marker = memfd_create(FZ_MARKER, MFD_CLOEXEC);
	if (rbuf == NULL || marker < 0) {
		perror("fuzz_ctl");
		exit(1);
	}
	atexit(cleanup);
	start_nxd();
	start_fake();
	return 0;
}

/* ---- records ---- */

struct rec {
	uint8_t flags;
	const uint8_t *p;
	size_t len;
};

static unsigned
records(struct fz_in *in, struct rec *r)
{
	unsigned n = 0;

	while (in->left > 0 && n < FZ_MAX_RECORDS) {
		r[n].flags = fz_u8(in);
		r[n].p = fz_bytes(in, fz_u16(in), &r[n].len);
		n++;
	}
	return n;
}

/* (a): nxd's parse, in a buffer of exactly the datagram's size. */
static void
parse_command(const struct rec *r)
{
	struct nx_ctl_cmd *c = malloc(r->len ? r->len : 1);
	char *argv[64];
	unsigned max;

	FZ_CHECK(c != NULL, "malloc");
	for (max = 1; max <= 64; max *= 8) {
		int argc;

		memcpy(c, r->p, r->len);
		argc = nx__ctl_parse_command(c, r->len, argv, max);
		FZ_CHECK(argc == NX_EPROTO || (argc >= 1 && (unsigned)argc <= max), "argc %d", argc);
		for (int i = 0; i < argc; i++) {
			const char *end = (const char *)c + r->len;

			FZ_CHECK(argv[i] >= c->args && argv[i] < end, "argv[%d] outside", i);
			FZ_CHECK(memchr(argv[i], '\0', (size_t)(end - argv[i])) != NULL,
				 "argv[%d] unterminated", i);
		}
	}
	free(c);
}

/* ---- mode 0: an nxd ---- */

static int
nxd_connect(void)
{
	int fd = nx__ctl_connect(nxd_name);

	FZ_CHECK(fd >= 0, "connect to the in-process nxd: %s", nx__errmsg());
	/* never block on a full socket: a send that cannot go is skipped */
	FZ_CHECK(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0, "O_NONBLOCK");
	return fd;
}

/*
 * nxd's answer to one datagram: OK (an attach: with its channel) or ERROR,
 * or reply chunks up to one with more == 0; or it closed the connection.
 * @return true when the connection is closed
 */
static bool
nxd_answer(int fd, int *chan_fd, bool *attached)
{
	for (;;) {
		int rfd = -1;
		int n = nx__ctl_recv(fd, rbuf, sizeof *rbuf, &rfd, FZ_REPLY_NS);
		const struct nx_ctl_msg *m = &rbuf->hdr;

		FZ_CHECK(n != NX_ETIMEDOUT, "nxd did not answer within %llu s",
			 FZ_REPLY_NS / 1000000000ull);
		if (n < 0) {
			if (trace)
				fprintf(stderr, "fuzz_ctl: connection closed (%s)\n", nx_err_name(n));
			nx__fd_close(rfd);
			return true;
		}
		FZ_CHECK((size_t)n >= sizeof *m, "nxd sent %d bytes", n);
		if (trace)
			fprintf(stderr, "fuzz_ctl: type %u status %s%s, %d bytes: %.*s\n", m->type,
				nx_err_name(m->status), rfd >= 0 ? ", a descriptor" : "", n,
				m->type == NX_CTL_REPLY ? (int)rbuf->len : (int)sizeof m->text,
				m->type == NX_CTL_REPLY ? rbuf->text : m->text);
		FZ_CHECK(m->abi_version == NX_CTL_VERSION, "nxd sent ABI %u", m->abi_version);
		if (m->type == NX_CTL_OK) {
			FZ_CHECK((size_t)n == sizeof *m, "OK of %d bytes", n);
			/* an attach's OK brings the channel; a reclaim's, nothing */
			if (rfd >= 0) {
				nx__fd_close(*chan_fd);
				*chan_fd = rfd;
				*attached = true;
			}
			return false;
		}
		if (rfd >= 0) {
			nx__fd_close(rfd);
			FZ_CHECK(false, "nxd passed a descriptor with message type %u", m->type);
		}
		if (m->type == NX_CTL_ERROR) {
			FZ_CHECK((size_t)n == sizeof *m, "ERROR of %d bytes", n);
			FZ_CHECK(m->status < 0, "ERROR with status %d", m->status);
			FZ_CHECK(memchr(m->text, '\0', sizeof m->text) != NULL, "ERROR text unterminated");
			return false;
		}
		FZ_CHECK(m->type == NX_CTL_REPLY, "nxd sent message type %u", m->type);
		FZ_CHECK((size_t)n >= offsetof(struct nx_ctl_reply, text) &&
				 rbuf->len == (size_t)n - offsetof(struct nx_ctl_reply, text),
			 "reply chunk of %d bytes says %u", n, rbuf->len);
		if (!rbuf->more)
			return false;
	}
}

static void
settle(void)
{
	uint64_t t0 = nx__clock_ns();

	for (;;) {
		uint32_t i, busy = 0;
		int held = fz_count_fds(FZ_MARKER);

		for (i = 0; i < nxd_hv.max_channels; i++)
			if (nx__load32(&nxd_hv.chans[i].state) != NX_CHAN_FREE)
				busy++;
		if (busy == 0 && held == 1)
			return;
		FZ_CHECK(nx__clock_ns() - t0 < FZ_SETTLE_NS,
			 "after %llu s: %u channel(s) not freed, %d marker descriptor(s) held "
			 "(1 is ours)", FZ_SETTLE_NS / 1000000000ull, busy, held);
		usleep(1000);
	}
}

#define FZ_MAX_ATTACHED 8

static void
run_nxd(const struct rec *r, unsigned n)
{
	int fd = -1, chan_fd = -1, att[FZ_MAX_ATTACHED];
	unsigned i, natt = 0;

	for (i = 0; i < n; i++) {
		bool on_chan = (r[i].flags & 0x08) && natt > 0, attached = false;
		int pass = -1, rc, *use = on_chan ? &att[natt - 1] : &fd;

		if (r[i].flags & 0x01)
			pass = (r[i].flags & 0x02) && chan_fd >= 0 ? chan_fd : marker;
		if (*use < 0)
			*use = nxd_connect();
		rc = nx__ctl_send(*use, r[i].p, r[i].len, pass);
		if (rc == NX_ECLOSED && !on_chan) {
			/* nxd closed it after the previous answer */
			nx__fd_close(fd);
			fd = nxd_connect();
			rc = nx__ctl_send(fd, r[i].p, r[i].len, pass);
		}
		if (rc == NX_EAGAIN)
			continue;
		if (rc < 0 || nxd_answer(*use, &chan_fd, &attached)) {
			nx__fd_close(*use);
			*use = -1;
		}
		if (on_chan && *use < 0)
			natt--; /* its channel is gone */
		else if (attached && !on_chan && natt < FZ_MAX_ATTACHED) {
			/* this connection is the channel's now: keep it */
			att[natt++] = fd;
			fd = -1;
		}
	}
	nx__fd_close(fd);
	nx__fd_close(chan_fd);
	while (natt > 0)
		nx__fd_close(att[--natt]);
	settle();
}

/* ---- mode 1: the client's read of nxd's answer ---- */

static void
run_read_reply(const struct rec *r, unsigned n)
{
	int sv[2], rc;
	unsigned i;

	FZ_CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
	FZ_CHECK(fcntl(sv[1], F_SETFL, O_NONBLOCK) == 0, "O_NONBLOCK");
	for (i = 0; i < n; i++)
		if (nx__ctl_send(sv[1], r[i].p, r[i].len, (r[i].flags & 0x01) ? marker : -1) < 0)
			break;
	close(sv[1]);
	for (i = 0; i <= n; i++) {
		struct nx_ctl_msg m;
		int chan_fd = -1;
		bool no_fd = i < n && (r[i].flags & 0x04);

		memset(&m, 0, sizeof m);
		rc = nx__ctl_read_reply(sv[0], &m, no_fd ? NULL : &chan_fd, 0);
		if (rc == 0) {
			FZ_CHECK(m.type == NX_CTL_OK, "read_reply took type %u", m.type);
			FZ_CHECK(memchr(m.text, '\0', sizeof m.text) != NULL, "text unterminated");
		}
		FZ_CHECK(rc <= 0, "positive %d", rc);
		/* as client.c does: a channel is the caller's to close */
		nx__fd_close(chan_fd);
		if (rc == NX_ECLOSED || rc == NX_EAGAIN)
			break;
	}
	close(sv[0]);
	FZ_CHECK(fz_count_fds(FZ_MARKER) == 1, "%d marker descriptors open (1 is ours)",
		 fz_count_fds(FZ_MARKER));
}

/* ---- mode 2: a session's reply loop ---- */

static void
run_session(const struct rec *r, unsigned n, bool json)
{
	static char *const argv[] = { "list", NULL };
	struct nx_ctl_session *s;
	struct nx_peer_cred cred;
	char *text = NULL;
	size_t len = 0;
	int afd, status, rc;
	unsigned i;

	must(nx__ctl_session_open(&s, fake_name), "session");
	afd = nx__ctl_accept(fake_lfd, &cred);
	FZ_CHECK(afd >= 0, "accept: %d", afd);
	for (i = 0; i < n; i++)
		if (nx__ctl_send(afd, r[i].p, r[i].len, (r[i].flags & 0x01) ? marker : -1) < 0)
			break;
	nx__fd_close(afd); /* the answer is all queued: then the end */
	rc = nx__ctl_session_command(s, 1, argv, json, 1000000000ull, &text, &len, &status);
	FZ_CHECK(rc != NX_ETIMEDOUT, "the session waited for more than was sent");
	if (rc == 0) {
		FZ_CHECK(text != NULL && strlen(text) <= len, "text of %zu bytes", len);
		FZ_CHECK(len <= NX_CTL_REPLY_MAX, "%zu bytes", len);
	} else {
		FZ_CHECK(rc < 0 && text == NULL, "rc %d with text", rc);
	}
	nx__mem_free(text);
	nx__ctl_session_close(s);
	FZ_CHECK(fz_count_fds(FZ_MARKER) == 1, "%d marker descriptors open (1 is ours)",
		 fz_count_fds(FZ_MARKER));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	struct rec r[FZ_MAX_RECORDS];
	uint8_t mode = fz_u8(&in);
	unsigned n = records(&in, r), i;

	for (i = 0; i < n; i++)
		parse_command(&r[i]);
	switch (mode & 3u) {
	case 0:
		run_nxd(r, n);
		break;
	case 1:
		run_read_reply(r, n);
		break;
	case 2:
		run_session(r, n, mode & 0x04);
		break;
	default:
		break;
	}
	return 0;
}
