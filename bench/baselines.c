/*
 * nxbench's baselines: what nexus is measured against.
 *
 *   floor  two cache lines, the sequence number as the flag: one line
 *          transfer per hop, nothing else. No transport beats it. Its
 *          window: the same over a ring of slots each way, W outstanding.
 *   floorhdr the floor with its sequence number beside the payload, not
 *          in it: at 64 bytes two lines each way (floor_pingpong).
 *   ck     a bare ck SPSC ring each way (CK_RING_PROTOTYPE over a 64-byte
 *          slot, 1024 slots), pingpong and one-way stream.
 *   uds    a UNIX SOCK_STREAM socket pair, blocking reads: the system-call
 *          path most IPC takes.
 *
 * The serving side of each is a fork()ed child pinned to o->server_cpu;
 * the client is nxbench itself, pinned to o->client_cpu. The shared
 * memory is a sealed memfd mapped before the fork.
 *
 * Nothing waits unbounded: the child must report ready within
 * o->start_timeout_ns; every spin looks at the clock once per
 * NXB_SPIN_CHECK spins (so a prompt answer costs no clock read) and gives
 * up after o->op_timeout_ns; while it waits, a client also looks for a
 * dead server every NXB_PROBE_NS (waitid WNOWAIT); sockets carry
 * SO_RCVTIMEO/SO_SNDTIMEO; a child that does not exit when told is
 * killed. Children die with nxbench (PR_SET_PDEATHSIG) and are reaped by
 * pid on every path.
 *
 * Every spin uses nx__cpu_relax(), as nexus's own loops do.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ck_pr.h>
#include <ck_ring.h>

#include "bench/bench.h"

#define NXB_SPIN_CHECK 1024u        /* spins between two looks at the clock */
#define NXB_EXIT_TIMEOUT_NS 2000000000ull /* at least; o->op_timeout_ns if longer */
#define NXB_CK_SLOTS 1024u          /* ring size: 1023 usable slots */
#define NXB_STREAM_PUBLISH 256u     /* stream server publishes its count this often */
#define NXB_PROBE_NS 10000000ull    /* a waiting client looks for a dead server this often */

/* ---- results ---- */

void
nxb_result_init(struct nxb_result *r, const struct nxb_opts *o, const char *transport,
		const char *mode)
{
	memset(r, 0, offsetof(struct nxb_result, hist));
	snprintf(r->transport, sizeof r->transport, "%s", transport);
	snprintf(r->mode, sizeof r->mode, "%s", mode);
	r->payload = o->payload;
	r->client_cpu = o->client_cpu;
	r->server_cpu = o->server_cpu;
	nx__hist_init(&r->hist);
}

void
nxb_note(struct nxb_result *r, const char *fmt, ...)
{
	size_t len = strlen(r->note);
	va_list ap;

	if (len > 0 && len + 2 < sizeof r->note) {
		memcpy(r->note + len, "; ", 3);
		len += 2;
	}
	if (len + 1 >= sizeof r->note)
		return;
	va_start(ap, fmt);
	vsnprintf(r->note + len, sizeof r->note - len, fmt, ap);
	va_end(ap);
}

int
nxb_loop_end(const struct nxb_loop *l, struct nxb_result *r)
{
	r->by_duration = l->by_duration;
	if (l->i <= l->warmup)
		return nx__err(NX_ETIMEDOUT,
			       "the duration bound ran out in the warmup (%llu of %llu operations)",
			       (unsigned long long)l->i, (unsigned long long)l->warmup);
	r->ops = l->i - l->warmup;
	r->elapsed_ns = l->t_prev - l->t_meas;
	r->ops_per_s = r->elapsed_ns > 0 ? (double)r->ops * 1e9 / (double)r->elapsed_ns : 0.0;
	if (l->by_duration)
		nxb_note(r, "stopped by --duration after %llu ops", (unsigned long long)r->ops);
	return 0;
}

int
nxb_pin_client(const struct nxb_opts *o, struct nxb_result *r)
{
	int rc, cpu;

	rc = nx__thread_pin_self(o->client_cpu);
	if (rc < 0)
		return nx__err_ctx(rc, "pin the client");
	cpu = nx__cpu_current();
	if (cpu != o->client_cpu)
		return nx__err(NX_EIO, "client pinned to cpu %d but runs on cpu %d", o->client_cpu,
			       cpu);
	if (r != NULL)
		r->client_cpu = cpu;
	return 0;
}

/* ---- bounded spinning ---- */

/*
 * A wait that spins: nxb_spin() is called once per empty look; every
 * NXB_SPIN_CHECK calls it reads the clock (the deadline starts at the
 * first check, so an answer within that many spins costs no clock read)
 * and, for a server, the stop flag.
 */
struct nxb_spin {
	uint32_t n;
	pid_t child;          /* client side: the server, probed for death */
	uint64_t deadline;
	uint64_t probe_at;
	uint64_t timeout_ns;
	const uint32_t *stop; /* server side: the client's stop flag */
};

static inline void
spin_init(struct nxb_spin *s, uint64_t timeout_ns, const uint32_t *stop, pid_t child)
{
	s->n = 0;
	s->child = child;
	s->deadline = 0;
	s->probe_at = 0;
	s->timeout_ns = timeout_ns;
	s->stop = stop;
}

static __attribute__((noinline)) int
spin_check(struct nxb_spin *s)
{
	siginfo_t si;
	uint64_t now;

	if (s->stop != NULL && ck_pr_load_32(s->stop) != 0)
		return NX_ECLOSED;
	now = nx__clock_ns();
	if (s->deadline == 0)
		s->deadline = now + s->timeout_ns;
	else if (now >= s->deadline)
		return NX_ETIMEDOUT;
	/* a long wait: has the server died? (WNOWAIT: child_stop reaps it) */
	if (s->child > 0 && now >= s->probe_at) {
		memset(&si, 0, sizeof si);
		if (s->probe_at != 0 &&
		    waitid(P_PID, (id_t)s->child, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
		    si.si_pid == s->child)
			return NX_ECLOSED;
		s->probe_at = now + NXB_PROBE_NS;
	}
	return 0;
}

/* Client side: why a wait for the server ended. */
static int
lost_server(int rc, const char *what, uint64_t seq, uint64_t timeout_ns)
{
	if (rc == NX_ECLOSED)
		return nx__err(NX_ECLOSED, "%s: the server died while seq %llu was outstanding",
			       what, (unsigned long long)seq);
	return nx__err(NX_ETIMEDOUT, "%s: nothing for seq %llu within %.1f s", what,
		       (unsigned long long)seq, (double)timeout_ns / 1e9);
}

/** Relax once; @return 0, NX_ETIMEDOUT, or NX_ECLOSED (told to stop, or the server died) */
static inline int
nxb_spin(struct nxb_spin *s)
{
	nx__cpu_relax();
	if (CK_CC_LIKELY(++s->n % NXB_SPIN_CHECK != 0))
		return 0;
	return spin_check(s);
}

/* ---- the serving child ---- */

enum { SRV_STARTING = 0, SRV_READY = 1, SRV_FAILED = 2 };

/* At the start of every shared segment. Who writes what is in the names. */
struct nxb_ctl {
	uint32_t srv_state; /* SRV_*, server writes */
	uint32_t srv_cpu;   /* the CPU the server runs on, server writes */
	char srv_err[120];  /* why the server failed, server writes before SRV_FAILED */
	uint32_t cli_stop __attribute__((aligned(128)));     /* client writes 1: exit */
	/* stream: slots taken so far, server writes */
	uint64_t srv_consumed __attribute__((aligned(128)));
} __attribute__((aligned(128)));

#define NXB_CTL_SIZE sizeof(struct nxb_ctl)
_Static_assert(sizeof(struct nxb_ctl) == 384, "control block: three 128-byte blocks");

struct nxb_child {
	pid_t pid;
	struct nxb_ctl *ctl;
	uint64_t exit_timeout_ns; /* told to stop, it must exit within this */
};

typedef int (*nxb_serve_fn)(void *arg);

/* In the child: say why it failed, for the parent to report. */
static int __attribute__((format(printf, 3, 4)))
srv_fail(struct nxb_ctl *ctl, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctl->srv_err, sizeof ctl->srv_err, fmt, ap);
	va_end(ap);
	ck_pr_fence_store(); /* pairs with the parent's fence after seeing SRV_FAILED */
	ck_pr_store_32(&ctl->srv_state, SRV_FAILED);
	return err;
}

static void
child_kill(struct nxb_child *c)
{
	int status;

	if (c->pid <= 0)
		return;
	kill(c->pid, SIGKILL);
	while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
		;
	c->pid = 0;
}

/*
 * Fork the serving side, pin it, and wait (bounded) until it says it is
 * ready. On failure nothing is left running.
 */
static int
child_start(struct nxb_child *c, struct nxb_ctl *ctl, const struct nxb_opts *o,
	    nxb_serve_fn fn, void *arg, int close_fd)
{
	pid_t parent = getpid(), pid;
	uint64_t deadline;
	int status, rc;

	c->pid = 0;
	c->ctl = ctl;
	/* a loaded machine (--op-timeout) may take as long to let it exit */
	c->exit_timeout_ns = o->op_timeout_ns > NXB_EXIT_TIMEOUT_NS ? o->op_timeout_ns :
								       NXB_EXIT_TIMEOUT_NS;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return nx__err_sys(NX_EIO, errno, "fork the server");
	if (pid == 0) {
		/* the child: never returns into nxbench */
		if (close_fd >= 0)
			close(close_fd);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(3);
		rc = nx__thread_pin_self(o->server_cpu);
		if (rc < 0) {
			srv_fail(ctl, rc, "pin the server to cpu %d: %s", o->server_cpu,
				 nx__errmsg());
			_exit(2);
		}
		ck_pr_store_32(&ctl->srv_cpu, (uint32_t)nx__cpu_current());
		ck_pr_fence_store(); /* srv_cpu before READY */
		ck_pr_store_32(&ctl->srv_state, SRV_READY);
		_exit(fn(arg) == 0 ? 0 : 1);
	}
	c->pid = pid;

	deadline = nx__clock_ns() + o->start_timeout_ns;
	for (;;) {
		uint32_t st = ck_pr_load_32(&ctl->srv_state);

		if (st == SRV_READY)
			break;
		if (st == SRV_FAILED) {
			ck_pr_fence_load(); /* pairs with srv_fail */
			rc = nx__err(NX_EIO, "server did not start: %s", ctl->srv_err);
			child_kill(c);
			return rc;
		}
		if (waitpid(pid, &status, WNOHANG) == pid) {
			c->pid = 0;
			return nx__err(NX_EIO, "server exited before it was ready (status 0x%x)",
				       (unsigned)status);
		}
		if (nx__clock_ns() >= deadline) {
			child_kill(c);
			return nx__err(NX_ETIMEDOUT, "server not ready within %.1f s",
				       (double)o->start_timeout_ns / 1e9);
		}
		nx__sleep_ns(20000);
	}
	ck_pr_fence_load(); /* pairs with the fence before READY */
	if ((int)ck_pr_load_32(&ctl->srv_cpu) != o->server_cpu) {
		rc = nx__err(NX_EIO, "server pinned to cpu %d but runs on cpu %d", o->server_cpu,
			     (int)ck_pr_load_32(&ctl->srv_cpu));
		child_kill(c);
		return rc;
	}
	return 0;
}

/*
 * Tell the child to exit and reap it, killing it if it does not exit in
 * time. @return 0 when it exited cleanly, else why not (unless ok is
 * false: the run already failed, so just make sure it is gone).
 */
static int
child_stop(struct nxb_child *c, bool ok)
{
	uint64_t deadline;
	int status = 0, rc = 0;
	pid_t w;

	if (c->pid <= 0)
		return 0;
	ck_pr_store_32(&c->ctl->cli_stop, 1);
	if (!ok) {
		child_kill(c);
		return 0;
	}
	deadline = nx__clock_ns() + c->exit_timeout_ns;
	for (;;) {
		w = waitpid(c->pid, &status, WNOHANG);
		if (w == c->pid)
			break;
		if (w < 0 && errno != EINTR) {
			rc = nx__err_sys(NX_EIO, errno, "wait for the server");
			child_kill(c);
			return rc;
		}
		if (nx__clock_ns() >= deadline) {
			child_kill(c);
			return nx__err(NX_ETIMEDOUT, "server did not exit within %.1f s (killed)",
				       (double)c->exit_timeout_ns / 1e9);
		}
		nx__sleep_ns(100000);
	}
	c->pid = 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (ck_pr_load_32(&c->ctl->srv_state) == SRV_FAILED) {
		ck_pr_fence_load(); /* pairs with srv_fail */
		return nx__err(NX_EIO, "server failed: %s", c->ctl->srv_err);
	}
	if (WIFSIGNALED(status))
		return nx__err(NX_EIO, "server killed by signal %d", WTERMSIG(status));
	return nx__err(NX_EIO, "server exited with status %d", WEXITSTATUS(status));
}

/* Shared memory: a sealed memfd, mapped before the fork, backed now. */
static int
seg_create(void **out, size_t len, const char *name)
{
	void *p;
	int fd, rc;

	fd = nx__shm_create_anon(name, len);
	if (fd < 0)
		return nx__err_ctx(fd, "shared segment");
	rc = nx__shm_map(&p, fd, len, true);
	nx__fd_close(fd);
	if (rc < 0)
		return nx__err_ctx(rc, "shared segment");
	nx__mem_prefault(p, len, true);
	*out = p;
	return 0;
}

/* The message bytes: a pattern, with the sequence number in front. */
static void
fill_pattern(uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 131 + 7);
}

static inline void
stamp(uint8_t *buf, size_t len, uint64_t seq)
{
	memcpy(buf, &seq, len < sizeof seq ? len : sizeof seq);
}

static inline bool
stamped(const uint8_t *buf, size_t len, uint64_t seq)
{
	return memcmp(buf, &seq, len < sizeof seq ? len : sizeof seq) == 0;
}

/* ================= floor: one cache line each way ================= */

/*
 * Layout: ctl | ping | pong. A message is max(payload, 8) bytes, the
 * first 8 its sequence number, which is also the flag: the writer stores
 * the rest, then (store fence) the sequence. Neither side reads the line
 * it writes: the client writes ping and reads pong, the server the
 * reverse, so each hop is one line transfer (for payloads up to 64
 * bytes). The ping-pong has one message each way, each starting a
 * 128-byte block of its own (the adjacent-line prefetcher fetches lines
 * in pairs; a neighbour in the pair would be false sharing); the window
 * a ring of slots each way (below).
 */
struct floor_ctx {
	struct nxb_ctl *ctl;
	uint8_t *ping;    /* client -> server: one message, or the request ring */
	uint8_t *pong;    /* server -> client: one message, or the answer ring */
	size_t len;       /* bytes of a message: max(payload, 8) */
	size_t stride;    /* window: bytes per slot, len in whole lines */
	uint64_t idle_ns;
	/* the client's: the segment and its message buffers */
	void *seg;
	size_t seglen;
	uint8_t *out, *in;
};

static inline uint64_t *
msg_seq(uint8_t *msg)
{
	return (uint64_t *)(void *)msg;
}

/* Write message seq: src's bytes after the sequence number, then (store
 * fence) the sequence number that flags them. */
static inline void
msg_put(uint8_t *msg, const uint8_t *src, size_t len, uint64_t seq)
{
	if (len > 8)
		memcpy(msg + 8, src + 8, len - 8);
	ck_pr_fence_store(); /* the payload before the seq that flags it */
	ck_pr_store_64(msg_seq(msg), seq);
}

/* Read a message whose sequence number was seen: its bytes after it. */
static inline void
msg_get(uint8_t *dst, const uint8_t *msg, size_t len)
{
	ck_pr_fence_load(); /* pairs with the writer's fence before the seq */
	if (len > 8)
		memcpy(dst + 8, msg + 8, len - 8);
}

/*
 * The segment (ctl, then `side` bytes each way) and the client's message
 * buffers, out filled with the pattern. On failure what was made stays
 * for floor_close.
 */
static int
floor_open(struct floor_ctx *f, const struct nxb_opts *o, size_t side, const char *name)
{
	int rc;

	f->seglen = NXB_CTL_SIZE + 2 * side;
	rc = seg_create(&f->seg, f->seglen, name);
	if (rc < 0) {
		f->seg = NULL;
		return rc;
	}
	f->ctl = f->seg;
	f->ping = (uint8_t *)f->seg + NXB_CTL_SIZE;
	f->pong = f->ping + side;
	f->idle_ns = 2 * o->op_timeout_ns;
	f->out = malloc(f->len);
	f->in = malloc(f->len);
	if (f->out == NULL || f->in == NULL)
		return nx__err(NX_ENOMEM, "floor: message buffers");
	fill_pattern(f->out, f->len);
	return 0;
}

static void
floor_close(struct floor_ctx *f)
{
	free(f->out);
	free(f->in);
	if (f->seg != NULL)
		nx__shm_unmap(f->seg, f->seglen);
}

/* Pin the client, start the server on its CPU. */
static int
floor_start(struct floor_ctx *f, const struct nxb_opts *o, struct nxb_result *r,
	    struct nxb_child *child, int (*serve)(void *))
{
	int rc = nxb_pin_client(o, r);

	if (rc < 0)
		return rc;
	rc = child_start(child, f->ctl, o, serve, f, -1);
	if (rc < 0)
		return rc;
	r->server_cpu = (int)ck_pr_load_32(&f->ctl->srv_cpu);
	return 0;
}

/* After the run: the last answer must carry the payload sent. */
static int
floor_check(const struct floor_ctx *f, const char *what)
{
	if (memcmp(f->in + 8, f->out + 8, f->len - 8) != 0)
		return nx__err(NX_EPROTO, "%s: the echoed payload differs", what);
	return 0;
}

static int
floor_serve(void *arg)
{
	struct floor_ctx *f = arg;
	struct nxb_spin sp;
	uint64_t last = 0, seq;
	int rc;

	for (;;) {
		spin_init(&sp, f->idle_ns, &f->ctl->cli_stop, 0);
		while ((seq = ck_pr_load_64(msg_seq(f->ping))) == last) {
			rc = nxb_spin(&sp);
			if (rc == NX_ECLOSED)
				return 0;
			if (rc < 0)
				return srv_fail(f->ctl, rc, "floor: no ping for %.1f s after seq %llu",
						(double)f->idle_ns / 1e9, (unsigned long long)last);
		}
		ck_pr_fence_load(); /* pairs with the client's fence before the seq */
		msg_put(f->pong, f->ping, f->len, seq);
		last = seq;
	}
}

/* @param len the message's bytes, its sequence number in front */
static int
floor_pingpong(const struct nxb_opts *o, struct nxb_result *r, const char *name, size_t len)
{
	struct floor_ctx f = { .len = len };
	struct nxb_child child = { 0 };
	struct nxb_loop l;
	struct nxb_spin sp;
	const size_t region = (f.len + 127) & ~(size_t)127;
	uint64_t seq = 0;
	int rc;

	nxb_result_init(r, o, name, "pingpong");
	rc = floor_open(&f, o, region, "nxbench-floor");
	if (rc < 0)
		goto out;
	if (f.len > 64)
		nxb_note(r, "%zu lines per message", region / 64);
	rc = floor_start(&f, o, r, &child, floor_serve);
	if (rc < 0)
		goto out;

	nxb_loop_begin(&l, o);
	do {
		msg_put(f.ping, f.out, f.len, ++seq);
		spin_init(&sp, o->op_timeout_ns, NULL, child.pid);
		while (ck_pr_load_64(msg_seq(f.pong)) != seq) {
			rc = nxb_spin(&sp);
			if (rc < 0) {
				rc = lost_server(rc, "floor: no pong", seq, o->op_timeout_ns);
				child_stop(&child, false);
				goto out;
			}
		}
		msg_get(f.in, f.pong, f.len);
	} while (nxb_loop_next(&l, &r->hist));

	rc = child_stop(&child, true);
	if (rc == 0)
		rc = floor_check(&f, name);
	if (rc == 0)
		rc = nxb_loop_end(&l, r);
out:
	floor_close(&f);
	return rc;
}

/* The floor: the payload's first 8 bytes are the sequence number, so a
 * 64-byte payload and its flag share one line. */
int
nxb_floor_pingpong(const struct nxb_opts *o, struct nxb_result *r)
{
	return floor_pingpong(o, r, "floor", o->payload < 8 ? 8 : o->payload);
}

/*
 * The floor with its sequence number beside the payload, not in it: an
 * 8-byte header, then the payload's bytes. A 56-byte payload is then one
 * line, as in the floor; a 64-byte one is two lines each way. No layout
 * carries 64 arbitrary bytes and a flag in one 64-byte line, so with the
 * vCPUs on one core, where no line crosses between cores, this is what
 * any design pays whose flag is not part of the payload, as nx's
 * sequence numbers are not. Between cores it is no bound: its reader
 * fetches the second line only once the flag is seen, one transfer after
 * the other, where nx's ring lets each side own the next slot's lines
 * ahead (a single message buffer cannot: its reader is polling it).
 */
int
nxb_floorhdr_pingpong(const struct nxb_opts *o, struct nxb_result *r)
{
	return floor_pingpong(o, r, "floorhdr", o->payload + 8);
}

/*
 * Window: the floor's protocol over a ring of slots each way, W requests
 * outstanding. Request n (from 1) sits in request slot (n - 1) % slots,
 * its answer in the same answer slot; each slot is the payload rounded up
 * to whole lines, its first 8 bytes the sequence number, written last.
 * The server polls the request slot it expects next and nothing else;
 * the client polls the answer slot it expects next. No index, no other
 * line: the least any request-and-answer design moves, so the bound a
 * window through nexus (or through anything built on shared memory)
 * is measured against. Room needs no look either: with at most W <=
 * slots outstanding, request n's slot last held n - slots, whose answer
 * the client has read, and the server wrote that answer after copying
 * the request out.
 */
static inline uint8_t *
floorw_slot(uint8_t *ring, const struct floor_ctx *f, uint64_t seq)
{
	return ring + (size_t)((seq - 1) & (NXB_CK_SLOTS - 1)) * f->stride;
}

static int
floorw_serve(void *arg)
{
	struct floor_ctx *f = arg;
	struct nxb_spin sp;
	uint64_t seq;
	int rc;

	for (seq = 1;; seq++) {
		uint8_t *rq = floorw_slot(f->ping, f, seq);

		spin_init(&sp, f->idle_ns, &f->ctl->cli_stop, 0);
		while (ck_pr_load_64(msg_seq(rq)) != seq) {
			rc = nxb_spin(&sp);
			if (rc == NX_ECLOSED)
				return 0;
			if (rc < 0)
				return srv_fail(f->ctl, rc, "floor window: no request %llu for %.1f s",
						(unsigned long long)seq, (double)f->idle_ns / 1e9);
		}
		ck_pr_fence_load(); /* pairs with the client's fence before the seq */
		msg_put(floorw_slot(f->pong, f, seq), rq, f->len, seq);
	}
}

int
nxb_floor_window(const struct nxb_opts *o, struct nxb_result *r)
{
	struct floor_ctx f = { .len = o->payload < 8 ? 8 : o->payload };
	struct nxb_child child = { 0 };
	struct nxb_spin sp;
	uint64_t *sent_at = NULL, sent = 0, done = 0, total, t_meas = 0, deadline, now, k, wmask;
	const unsigned w = o->window < NXB_CK_SLOTS ? o->window : NXB_CK_SLOTS;
	int rc;

	nxb_result_init(r, o, "floor", "window");
	f.stride = (f.len + 63) & ~(size_t)63;
	rc = floor_open(&f, o, NXB_CK_SLOTS * f.stride, "nxbench-floorw");
	if (rc < 0)
		goto out;
	wmask = nxb_pow2(w) - 1;
	sent_at = calloc(wmask + 1, sizeof *sent_at);
	if (sent_at == NULL) {
		rc = nx__err(NX_ENOMEM, "floor window: send times");
		goto out;
	}
	nxb_note(r, "%u outstanding, %u-slot ring each way", w, NXB_CK_SLOTS);
	if (w < o->window)
		nxb_note(r, "window cut to the ring's %u", w);
	rc = floor_start(&f, o, r, &child, floorw_serve);
	if (rc < 0)
		goto out;

	/* As nx's window: a request's latency runs from the clock read
	 * before it went out to the one after the look that found its answer. */
	total = o->warmup + o->ops;
	now = nx__clock_ns();
	deadline = now + o->duration_ns;
	spin_init(&sp, o->op_timeout_ns, NULL, child.pid);
	while (done < total) {
		unsigned got = 0;

		if (now >= deadline) {
			r->by_duration = true;
			break;
		}
		while (sent < total && sent - done < w) {
			sent++;
			msg_put(floorw_slot(f.ping, &f, sent), f.out, f.len, sent);
			sent_at[(sent - 1) & wmask] = now;
		}
		for (;;) {
			uint8_t *rs = floorw_slot(f.pong, &f, done + 1);

			if (done == sent || ck_pr_load_64(msg_seq(rs)) != done + 1)
				break;
			msg_get(f.in, rs, f.len);
			done++;
			got++;
		}
		if (got == 0) {
			rc = nxb_spin(&sp);
			if (rc < 0) {
				rc = lost_server(rc, "floor window: no answer", done + 1,
						 o->op_timeout_ns);
				child_stop(&child, false);
				goto out;
			}
			continue;
		}
		spin_init(&sp, o->op_timeout_ns, NULL, child.pid);
		now = nx__clock_ns(); /* the answers' time, and the next requests' */
		for (k = done - got; k < done; k++) {
			if (k == o->warmup)
				t_meas = now;
			if (k >= o->warmup)
				nx__hist_record(&r->hist, now - sent_at[k & wmask]);
		}
	}
	rc = child_stop(&child, true);
	if (rc == 0 && done <= o->warmup)
		rc = nx__err(NX_ETIMEDOUT, "floor window: the duration bound ran out in the warmup");
	if (rc == 0)
		rc = floor_check(&f, "floor window");
	if (rc < 0)
		goto out;
	r->ops = done - o->warmup;
	r->elapsed_ns = now - t_meas;
	r->ops_per_s = r->elapsed_ns > 0 ? (double)r->ops * 1e9 / (double)r->elapsed_ns : 0.0;
	if (r->by_duration)
		nxb_note(r, "stopped by --duration after %llu ops", (unsigned long long)r->ops);
out:
	free(sent_at);
	floor_close(&f);
	return rc;
}

/* ================= ck: a bare ck ring each way ================= */

struct nxb_slot {
	uint8_t b[64];
};
_Static_assert(sizeof(struct nxb_slot) == 64, "one slot is one cache line");

CK_RING_PROTOTYPE(nxb_slot, nxb_slot)

/* The ck segment: ctl, the two rings' control blocks, their slot arrays. */
struct ck_seg {
	struct nxb_ctl ctl;
	struct ck_ring ping __attribute__((aligned(128)));
	struct ck_ring pong __attribute__((aligned(128)));
	struct nxb_slot ping_buf[NXB_CK_SLOTS] __attribute__((aligned(128)));
	struct nxb_slot pong_buf[NXB_CK_SLOTS] __attribute__((aligned(128)));
};

struct ck_ctx {
	struct ck_seg *s;
	unsigned nslots; /* slots per message */
	uint64_t idle_ns;
	struct nxb_slot *scratch; /* server: one message */
};

static int
ck_seg_create(struct ck_seg **out, const struct nxb_opts *o, unsigned *nslots)
{
	void *p;
	int rc;

	*nslots = (o->payload + 63) / 64;
	if (*nslots > NXB_CK_SLOTS - 1)
		return nx__err(NX_E2BIG, "ck: a %u-byte payload needs %u slots, the ring has %u",
			       o->payload, *nslots, NXB_CK_SLOTS - 1);
	rc = seg_create(&p, sizeof(struct ck_seg), "nxbench-ck");
	if (rc < 0)
		return rc;
	*out = p;
	ck_ring_init(&(*out)->ping, NXB_CK_SLOTS);
	ck_ring_init(&(*out)->pong, NXB_CK_SLOTS);
	return 0;
}

static int
ck_pp_serve(void *arg)
{
	struct ck_ctx *c = arg;
	struct ck_seg *s = c->s;
	struct nxb_spin sp;
	unsigned k;
	int rc;

	for (;;) {
		spin_init(&sp, c->idle_ns, &s->ctl.cli_stop, 0);
		for (k = 0; k < c->nslots; k++) {
			while (!ck_ring_dequeue_spsc_nxb_slot(&s->ping, s->ping_buf,
							      &c->scratch[k])) {
				rc = nxb_spin(&sp);
				if (rc == NX_ECLOSED)
					return 0;
				if (rc < 0)
					return srv_fail(&s->ctl, rc, "ck: no ping for %.1f s",
							(double)c->idle_ns / 1e9);
			}
		}
		spin_init(&sp, c->idle_ns, &s->ctl.cli_stop, 0);
		for (k = 0; k < c->nslots; k++) {
			while (!ck_ring_enqueue_spsc_nxb_slot(&s->pong, s->pong_buf,
							      &c->scratch[k])) {
				rc = nxb_spin(&sp);
				if (rc == NX_ECLOSED)
					return 0;
				if (rc < 0)
					return srv_fail(&s->ctl, rc, "ck: pong ring full for %.1f s",
							(double)c->idle_ns / 1e9);
			}
		}
	}
}

int
nxb_ck_pingpong(const struct nxb_opts *o, struct nxb_result *r)
{
	struct nxb_child child = { 0 };
	struct nxb_slot *out = NULL, *in = NULL;
	struct ck_ctx c = { 0 };
	struct nxb_spin sp;
	struct nxb_loop l;
	uint64_t seq = 0;
	unsigned k;
	int rc;

	nxb_result_init(r, o, "ck", "pingpong");
	rc = ck_seg_create(&c.s, o, &c.nslots);
	if (rc < 0)
		return rc;
	c.idle_ns = 2 * o->op_timeout_ns;
	out = calloc(c.nslots, sizeof *out);
	in = calloc(c.nslots, sizeof *in);
	c.scratch = calloc(c.nslots, sizeof *c.scratch);
	if (out == NULL || in == NULL || c.scratch == NULL) {
		rc = nx__err(NX_ENOMEM, "ck: message buffers");
		goto err_free;
	}
	fill_pattern(out[0].b, (size_t)c.nslots * sizeof *out);
	if (c.nslots > 1)
		nxb_note(r, "%u slots per message", c.nslots);

	rc = nxb_pin_client(o, r);
	if (rc < 0)
		goto err_free;
	rc = child_start(&child, &c.s->ctl, o, ck_pp_serve, &c, -1);
	if (rc < 0)
		goto err_free;
	r->server_cpu = (int)ck_pr_load_32(&c.s->ctl.srv_cpu);

	nxb_loop_begin(&l, o);
	do {
		stamp(out[0].b, sizeof out[0], ++seq);
		spin_init(&sp, o->op_timeout_ns, NULL, child.pid);
		for (k = 0; k < c.nslots; k++) {
			while (!ck_ring_enqueue_spsc_nxb_slot(&c.s->ping, c.s->ping_buf, &out[k])) {
				rc = nxb_spin(&sp);
				if (rc < 0) {
					rc = lost_server(rc, "ck: ping ring full", seq,
							 o->op_timeout_ns);
					goto err_child;
				}
			}
		}
		for (k = 0; k < c.nslots; k++) {
			while (!ck_ring_dequeue_spsc_nxb_slot(&c.s->pong, c.s->pong_buf, &in[k])) {
				rc = nxb_spin(&sp);
				if (rc < 0) {
					rc = lost_server(rc, "ck: no pong", seq, o->op_timeout_ns);
					goto err_child;
				}
			}
		}
		if (CK_CC_UNLIKELY(!stamped(in[0].b, sizeof in[0], seq))) {
			rc = nx__err(NX_EPROTO, "ck: pong for seq %llu carries another seq",
				     (unsigned long long)seq);
			goto err_child;
		}
	} while (nxb_loop_next(&l, &r->hist));

	rc = child_stop(&child, true);
	if (rc < 0)
		goto err_free;
	if (memcmp(in, out, (size_t)c.nslots * sizeof *out) != 0) {
		rc = nx__err(NX_EPROTO, "ck: the echoed payload differs");
		goto err_free;
	}
	rc = nxb_loop_end(&l, r);
	goto out;

err_child:
	child_stop(&child, false);
err_free:
out:
	free(out);
	free(in);
	free(c.scratch);
	nx__shm_unmap(c.s, sizeof *c.s);
	return rc;
}

/*
 * Stream: the server takes slots as they come, checks each message's
 * sequence number, and publishes how many it has taken every
 * NXB_STREAM_PUBLISH slots and whenever the ring runs empty, so the
 * client's end-of-run check costs the server nothing per message.
 */
static int
ck_stream_serve(void *arg)
{
	struct ck_ctx *c = arg;
	struct ck_seg *s = c->s;
	struct nxb_slot slot;
	uint64_t taken = 0, published = 0, msg = 0;
	unsigned k = 0;
	struct nxb_spin sp;
	int rc;

	spin_init(&sp, c->idle_ns, &s->ctl.cli_stop, 0);
	for (;;) {
		if (ck_ring_dequeue_spsc_nxb_slot(&s->ping, s->ping_buf, &slot)) {
			if (k == 0 && CK_CC_UNLIKELY(!stamped(slot.b, sizeof slot, ++msg)))
				return srv_fail(&s->ctl, NX_EPROTO,
						"ck stream: message %llu carries another seq",
						(unsigned long long)msg);
			if (++k == c->nslots)
				k = 0;
			if (++taken % NXB_STREAM_PUBLISH == 0) {
				ck_pr_store_64(&s->ctl.srv_consumed, taken);
				published = taken;
			}
			sp.n = 0;
			sp.deadline = 0;
			continue;
		}
		if (published != taken) {
			ck_pr_store_64(&s->ctl.srv_consumed, taken);
			published = taken;
		}
		rc = nxb_spin(&sp);
		if (rc == NX_ECLOSED)
			return 0;
		if (rc < 0)
			return srv_fail(&s->ctl, rc, "ck stream: nothing for %.1f s",
					(double)c->idle_ns / 1e9);
	}
}

/* Client: enqueue one message of nslots slots, spinning (bounded) while full. */
static int
ck_stream_send(struct ck_ctx *c, struct nxb_slot *out, uint64_t seq, uint64_t timeout_ns,
	       pid_t child)
{
	struct nxb_spin sp;
	unsigned k;
	int rc;

	stamp(out[0].b, sizeof out[0], seq);
	spin_init(&sp, timeout_ns, NULL, child);
	for (k = 0; k < c->nslots; k++) {
		while (!ck_ring_enqueue_spsc_nxb_slot(&c->s->ping, c->s->ping_buf, &out[k])) {
			rc = nxb_spin(&sp);
			if (rc < 0)
				return lost_server(rc, "ck stream: ring full", seq, timeout_ns);
		}
	}
	return 0;
}

/* Client: wait (bounded) until the server has taken `slots` slots. */
static int
ck_stream_drain(struct ck_ctx *c, uint64_t slots, uint64_t timeout_ns, pid_t child)
{
	struct nxb_spin sp;
	int rc;

	spin_init(&sp, timeout_ns, NULL, child);
	while (ck_pr_load_64(&c->s->ctl.srv_consumed) < slots) {
		rc = nxb_spin(&sp);
		if (rc < 0)
			return nx__err(rc, "ck stream: server took %llu of %llu slots, then %s",
				       (unsigned long long)ck_pr_load_64(&c->s->ctl.srv_consumed),
				       (unsigned long long)slots,
				       rc == NX_ECLOSED ? "died" : "nothing more within the timeout");
	}
	return 0;
}

int
nxb_ck_stream(const struct nxb_opts *o, struct nxb_result *r)
{
	struct nxb_child child = { 0 };
	struct nxb_slot *out = NULL;
	struct ck_ctx c = { 0 };
	uint64_t seq = 0, n = 0, t0, t1, deadline;
	int rc;

	nxb_result_init(r, o, "ck", "stream");
	rc = ck_seg_create(&c.s, o, &c.nslots);
	if (rc < 0)
		return rc;
	c.idle_ns = 2 * o->op_timeout_ns;
	out = calloc(c.nslots, sizeof *out);
	c.scratch = NULL;
	if (out == NULL) {
		rc = nx__err(NX_ENOMEM, "ck stream: message buffer");
		goto err_free;
	}
	fill_pattern(out[0].b, (size_t)c.nslots * sizeof *out);
	nxb_note(r, "one-way, %u-slot ring", NXB_CK_SLOTS);
	if (c.nslots > 1)
		nxb_note(r, "%u slots per message", c.nslots);

	rc = nxb_pin_client(o, r);
	if (rc < 0)
		goto err_free;
	rc = child_start(&child, &c.s->ctl, o, ck_stream_serve, &c, -1);
	if (rc < 0)
		goto err_free;
	r->server_cpu = (int)ck_pr_load_32(&c.s->ctl.srv_cpu);

	t0 = nx__clock_ns();
	deadline = t0 + o->duration_ns;
	/* warmup, then wait until the server has taken all of it */
	while (seq < o->warmup) {
		rc = ck_stream_send(&c, out, ++seq, o->op_timeout_ns, child.pid);
		if (rc < 0)
			goto err_child;
		if (seq % 1024 == 0 && nx__clock_ns() >= deadline) {
			rc = nx__err(NX_ETIMEDOUT,
				     "the duration bound ran out in the warmup (%llu of %llu messages)",
				     (unsigned long long)seq, (unsigned long long)o->warmup);
			goto err_child;
		}
	}
	rc = ck_stream_drain(&c, seq * c.nslots, o->op_timeout_ns, child.pid);
	if (rc < 0)
		goto err_child;

	t0 = nx__clock_ns();
	while (n < o->ops) {
		rc = ck_stream_send(&c, out, ++seq, o->op_timeout_ns, child.pid);
		if (rc < 0)
			goto err_child;
		if (++n % 1024 == 0 && nx__clock_ns() >= deadline) {
			r->by_duration = n < o->ops;
			break;
		}
	}
	rc = ck_stream_drain(&c, seq * c.nslots, o->op_timeout_ns, child.pid);
	if (rc < 0)
		goto err_child;
	t1 = nx__clock_ns();

	rc = child_stop(&child, true);
	if (rc < 0)
		goto err_free;
	r->ops = n;
	r->elapsed_ns = t1 - t0;
	r->ops_per_s = r->elapsed_ns > 0 ? (double)n * 1e9 / (double)r->elapsed_ns : 0.0;
	if (r->by_duration)
		nxb_note(r, "stopped by --duration after %llu ops", (unsigned long long)n);
	goto out;

err_child:
	child_stop(&child, false);
err_free:
out:
	free(out);
	nx__shm_unmap(c.s, sizeof *c.s);
	return rc;
}

/* ================= uds: a UNIX socket pair ================= */

struct uds_ctx {
	struct nxb_ctl *ctl;
	int fd;
	uint8_t *buf;
	size_t len;
};

/* @return len, 0 at EOF before anything, NX_ETIMEDOUT, NX_ECLOSED, NX_EIO */
static ssize_t
recv_all(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = recv(fd, buf + got, len - got, 0);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0)
			return got == 0 ? 0 : NX_ECLOSED;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return NX_ETIMEDOUT;
		return nx__err_sys(NX_EIO, errno, "recv");
	}
	return (ssize_t)len;
}

static int
send_all(int fd, const uint8_t *buf, size_t len)
{
	size_t put = 0;
	ssize_t n;

	while (put < len) {
		n = send(fd, buf + put, len - put, MSG_NOSIGNAL);
		if (n > 0) {
			put += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return NX_ETIMEDOUT;
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
			return NX_ECLOSED;
		return nx__err_sys(NX_EIO, n < 0 ? errno : EIO, "send");
	}
	return 0;
}

static int
sock_timeouts(int fd, uint64_t ns)
{
	struct timeval tv = { .tv_sec = (time_t)(ns / 1000000000ull),
			      .tv_usec = (suseconds_t)(ns % 1000000000ull / 1000) };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0)
		return nx__err_sys(NX_EIO, errno, "socket timeouts");
	return 0;
}

/* Echo until the client closes its end. */
static int
uds_serve(void *arg)
{
	struct uds_ctx *u = arg;
	ssize_t n;
	int rc;

	for (;;) {
		n = recv_all(u->fd, u->buf, u->len);
		if (n == 0)
			return 0; /* the client closed: done */
		if (n < 0)
			return srv_fail(u->ctl, (int)n, "uds: recv: %s",
					n == NX_EIO ? nx__errmsg() : nx_strerror((int)n));
		rc = send_all(u->fd, u->buf, u->len);
		if (rc < 0)
			return srv_fail(u->ctl, rc, "uds: send: %s",
					rc == NX_EIO ? nx__errmsg() : nx_strerror(rc));
	}
}

int
nxb_uds_pingpong(const struct nxb_opts *o, struct nxb_result *r)
{
	struct nxb_child child = { 0 };
	struct uds_ctx u = { 0 };
	uint8_t *out = NULL, *in = NULL;
	struct nxb_loop l;
	uint64_t seq = 0;
	int sv[2] = { -1, -1 };
	ssize_t n;
	void *seg;
	int rc;

	nxb_result_init(r, o, "uds", "pingpong");
	nxb_note(r, "SOCK_STREAM, blocking");
	rc = seg_create(&seg, NXB_CTL_SIZE, "nxbench-uds");
	if (rc < 0)
		return rc;
	u.ctl = seg;
	u.len = o->payload;
	out = malloc(u.len);
	in = malloc(u.len);
	u.buf = malloc(u.len);
	if (out == NULL || in == NULL || u.buf == NULL) {
		rc = nx__err(NX_ENOMEM, "uds: message buffers");
		goto err_free;
	}
	fill_pattern(out, u.len);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		rc = nx__err_sys(NX_EIO, errno, "uds: socketpair");
		goto err_free;
	}
	/* the client times out first, so its message is the one reported */
	rc = sock_timeouts(sv[0], o->op_timeout_ns);
	if (rc == 0)
		rc = sock_timeouts(sv[1], 2 * o->op_timeout_ns);
	if (rc < 0)
		goto err_close;

	rc = nxb_pin_client(o, r);
	if (rc < 0)
		goto err_close;
	u.fd = sv[1];
	rc = child_start(&child, u.ctl, o, uds_serve, &u, sv[0]);
	if (rc < 0)
		goto err_close;
	close(sv[1]); /* the child's end: EOF reaches each side when the other goes */
	sv[1] = -1;
	r->server_cpu = (int)ck_pr_load_32(&u.ctl->srv_cpu);

	nxb_loop_begin(&l, o);
	do {
		stamp(out, u.len, ++seq);
		rc = send_all(sv[0], out, u.len);
		if (rc < 0) {
			rc = rc == NX_EIO ? nx__err_ctx(rc, "uds: send seq %llu",
							(unsigned long long)seq)
					  : nx__err(rc, "uds: send seq %llu: %s",
						    (unsigned long long)seq, nx_strerror(rc));
			goto err_child;
		}
		n = recv_all(sv[0], in, u.len);
		if (n <= 0) {
			rc = n == 0 ? NX_ECLOSED : (int)n;
			rc = rc == NX_EIO ? nx__err_ctx(rc, "uds: recv seq %llu",
							(unsigned long long)seq)
					  : nx__err(rc, "uds: no answer for seq %llu: %s",
						    (unsigned long long)seq, nx_strerror(rc));
			goto err_child;
		}
		if (CK_CC_UNLIKELY(!stamped(in, u.len, seq))) {
			rc = nx__err(NX_EPROTO, "uds: answer for seq %llu carries another seq",
				     (unsigned long long)seq);
			goto err_child;
		}
	} while (nxb_loop_next(&l, &r->hist));

	close(sv[0]); /* the server sees EOF and exits */
	sv[0] = -1;
	rc = child_stop(&child, true);
	if (rc < 0)
		goto err_free;
	if (memcmp(in, out, u.len) != 0) {
		rc = nx__err(NX_EPROTO, "uds: the echoed payload differs");
		goto err_free;
	}
	rc = nxb_loop_end(&l, r);
	goto out;

err_child:
	child_stop(&child, false);
err_close:
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
err_free:
out:
	free(out);
	free(in);
	free(u.buf);
	nx__shm_unmap(seg, NXB_CTL_SIZE);
	return rc;
}

/* ---- futex: the operating system's wake-up floor ---- */

/*
 * What a sleeping side costs before nexus adds anything: the client
 * bumps a word and FUTEX_WAKEs the server asleep on it; the server bumps
 * another and wakes the client, asleep in turn. Each call follows an idle
 * gap, as in nxsleep, so both really sleep.
 */
struct futex_ctx {
	struct nxb_ctl *ctl;
	uint32_t *ping; /* client bumps, server sleeps on it */
	uint32_t *pong; /* server bumps, client sleeps on it */
};

static int
futex_serve(void *arg)
{
	struct futex_ctx *f = arg;
	uint32_t last = 0;

	for (;;) {
		uint32_t v;

		while ((v = ck_pr_load_32(f->ping)) == last) {
			if (ck_pr_load_32(&f->ctl->cli_stop) != 0)
				return 0;
			nx__futex_wait(f->ping, last, 100000000, true);
		}
		last = v;
		ck_pr_store_32(f->pong, v);
		nx__futex_wake(f->pong, 1, true);
	}
}

#define FUTEX_GAP_NS 300000ull

int
nxb_futex_wakeup(const struct nxb_opts *o, struct nxb_result *r)
{
	struct nxb_child child = { 0 };
	struct futex_ctx f;
	uint64_t i, ops, warm;
	size_t seglen = NXB_CTL_SIZE + 256;
	void *seg;
	int rc;

	nxb_result_init(r, o, "futex", "wakeup");
	rc = seg_create(&seg, seglen, "nxbench-futex");
	if (rc < 0)
		return rc;
	f.ctl = seg;
	f.ping = (uint32_t *)(void *)((uint8_t *)seg + NXB_CTL_SIZE);
	f.pong = (uint32_t *)(void *)((uint8_t *)seg + NXB_CTL_SIZE + 128);
	rc = nxb_pin_client(o, r);
	if (rc < 0)
		goto out;
	rc = child_start(&child, f.ctl, o, futex_serve, &f, -1);
	if (rc < 0)
		goto out;
	r->server_cpu = (int)ck_pr_load_32(&f.ctl->srv_cpu);
	ops = o->ops < 3000 ? o->ops : 3000;
	warm = o->warmup < 100 ? o->warmup : 100;
	for (i = 1; i <= warm + ops; i++) {
		uint64_t t0, t1, deadline;

		nx__sleep_ns(FUTEX_GAP_NS);
		t0 = nx__clock_ns();
		deadline = t0 + o->op_timeout_ns;
		ck_pr_store_32(f.ping, (uint32_t)i);
		nx__futex_wake(f.ping, 1, true);
		while (ck_pr_load_32(f.pong) != (uint32_t)i) {
			if (nx__clock_ns() > deadline) {
				rc = nx__err(NX_ETIMEDOUT, "futex: no wake-up for call %llu",
					     (unsigned long long)i);
				child_stop(&child, false);
				goto out;
			}
			nx__futex_wait(f.pong, (uint32_t)(i - 1), 100000000, true);
		}
		t1 = nx__clock_ns();
		if (i > warm) {
			nx__hist_record(&r->hist, t1 - t0);
			r->elapsed_ns += t1 - t0;
			r->ops++;
		}
	}
	rc = child_stop(&child, true);
	if (rc == 0) {
		r->ops_per_s = r->elapsed_ns > 0 ? (double)r->ops * 1e9 / (double)r->elapsed_ns : 0;
		nxb_note(r, "each call after a %llu us idle gap; the OS's wake-up floor",
			 FUTEX_GAP_NS / 1000);
	}
out:
	nx__shm_unmap(seg, seglen);
	return rc;
}

/* ================= memcpy: the copying limit ================= */

/*
 * One core copying one payload from a buffer to another, both hot in its
 * caches, as fast as it can: what a design that copies each message in
 * and out (libnx into the channel, the stage out of it) is bound by. On
 * the client's CPU, in the same run as the transports it bounds.
 */
int
nxb_memcpy_copy(const struct nxb_opts *o, struct nxb_result *r)
{
	const size_t len = o->payload;
	uint64_t n = 0, t0, t1, min_ns = 50000000ull;
	uint8_t *src, *dst;
	int rc;

	nxb_result_init(r, o, "memcpy", "copy");
	rc = nxb_pin_client(o, r);
	if (rc < 0)
		return rc;
	src = aligned_alloc(64, (len + 63) & ~(size_t)63);
	dst = aligned_alloc(64, (len + 63) & ~(size_t)63);
	if (src == NULL || dst == NULL) {
		free(src);
		free(dst);
		return nx__err(NX_ENOMEM, "memcpy: buffers");
	}
	fill_pattern(src, len);
	memset(dst, 0, len);
	for (n = 0; n < o->warmup; n++) {
		memcpy(dst, src, len);
		__asm__ __volatile__("" ::"r"(dst) : "memory"); /* the copy happens */
	}
	/* at least --ops copies and 50 ms, at most --duration */
	t0 = nx__clock_ns();
	t1 = t0;
	for (n = 0; n < o->ops || t1 - t0 < min_ns;) {
		unsigned k;

		for (k = 0; k < 64; k++, n++) {
			memcpy(dst, src, len);
			__asm__ __volatile__("" ::"r"(dst) : "memory");
		}
		t1 = nx__clock_ns();
		if (t1 - t0 >= o->duration_ns) {
			r->by_duration = n < o->ops;
			break;
		}
	}
	rc = memcmp(dst, src, len) == 0 ? 0 : nx__err(NX_EPROTO, "memcpy: the copy differs");
	free(src);
	free(dst);
	if (rc < 0)
		return rc;
	r->ops = n;
	r->elapsed_ns = t1 - t0;
	r->ops_per_s = (double)n * 1e9 / (double)r->elapsed_ns;
	nxb_note(r, "one core, buffers hot");
	return 0;
}
