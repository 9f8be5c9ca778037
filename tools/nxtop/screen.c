/*
 * nxtop's live screen (ncurses): a header with the instance's state and
 * health, one of three tables (workers, stage slots, channels), the last
 * restarts, and a status line. One function draws each part.
 */
#include <curses.h>
#include <locale.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/datapath/breaker.h"
#include "nxtop.h"

enum table { T_WORKERS, T_STAGES, T_CHANNELS, T_COUNT };

#define NSORT 5
#define RESTARTS_SHOWN 3

static const char *const table_names[T_COUNT] = { "workers", "stages", "channels" };

/* Each table's sort columns; the first is its natural order. */
static const char *const sort_names[T_COUNT][NSORT] = {
	[T_WORKERS] = { "worker", "req/s", "busy%", "p99", "heartbeat age" },
	[T_STAGES] = { "pipeline/slot", "calls/s", "fail%", "p99", "swaps" },
	[T_CHANNELS] = { "channel", "req/s", "depth", "outstanding", "errors" },
};

enum { C_OK = 1, C_WARN, C_BAD, C_DOWN };

struct screen {
	struct nx_hr *r;
	const char *instance;
	const struct nx_hr_snap *s;
	double delay;
	enum table table;
	unsigned sort[T_COUNT];
	bool paused, help, colors;
	bool entering;             /* typing a new refresh interval after 'd' */
	char entry[16];
	char msg[128];             /* a note on the status line, until the next key */
	unsigned *order;           /* rows of the current table, sorted */
	unsigned order_cap;
};

/* ---- drawing helpers ---- */

/* Text on row y from column x, cut at the screen's edge (no wrapping). */
static void
put(int y, int x, attr_t attr, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
put(int y, int x, attr_t attr, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (y >= LINES || x >= COLS)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	attr_on(attr, NULL);
	mvaddnstr(y, x, buf, COLS - x);
	attr_off(attr, NULL);
}

static attr_t
health_attr(const struct screen *sc, enum nx_hstate h)
{
	static const short pair[] = { [NX_H_HEALTHY] = C_OK, [NX_H_DEGRADED] = C_WARN,
				      [NX_H_UNHEALTHY] = C_BAD, [NX_H_DOWN] = C_DOWN };

	if (!sc->colors)
		return h == NX_H_HEALTHY ? A_NORMAL : A_BOLD;
	return (attr_t)COLOR_PAIR(pair[h]) | (h == NX_H_HEALTHY ? A_NORMAL : A_BOLD);
}

/* A row's attribute: plain when healthy, the health's colour otherwise. */
static attr_t
row_attr(const struct screen *sc, enum nx_hstate h)
{
	return h == NX_H_HEALTHY ? A_NORMAL : health_attr(sc, h);
}

/* A percentile, or "-" when nothing was sampled. */
static void
dur_or_dash(char *buf, size_t len, uint64_t ns, uint64_t samples)
{
	if (samples == 0)
		snprintf(buf, len, "-");
	else
		nxtop_fmt_dur(buf, len, ns);
}

/* ---- sorting ---- */

static int
cmp_u64_desc(uint64_t a, uint64_t b)
{
	return a < b ? 1 : a > b ? -1 : 0;
}

static int
cmp_dbl_desc(double a, double b)
{
	return a < b ? 1 : a > b ? -1 : 0;
}

static int
cmp_workers(const void *pa, const void *pb, void *arg)
{
	const struct screen *sc = arg;
	unsigned ia = *(const unsigned *)pa, ib = *(const unsigned *)pb;
	const struct nx_hr_worker *a = &sc->s->workers[ia], *b = &sc->s->workers[ib];
	int c = 0;

	switch (sc->sort[T_WORKERS]) {
	case 1: c = cmp_dbl_desc(a->req_per_s, b->req_per_s); break;
	case 2: c = cmp_dbl_desc(a->busy_pct, b->busy_pct); break;
	case 3: c = cmp_u64_desc(a->p99_ns, b->p99_ns); break;
	case 4: c = cmp_u64_desc(a->hb_age_ns, b->hb_age_ns); break;
	}
	return c != 0 ? c : ia < ib ? -1 : ia > ib;
}

static int
cmp_stages(const void *pa, const void *pb, void *arg)
{
	const struct screen *sc = arg;
	unsigned ia = *(const unsigned *)pa, ib = *(const unsigned *)pb;
	const struct nx_hr_slot *a = &sc->s->slots[ia], *b = &sc->s->slots[ib];
	int c = 0;

	switch (sc->sort[T_STAGES]) {
	case 0:
		c = strcmp(a->meta.pipe, b->meta.pipe);
		if (c == 0)
			c = strcmp(a->meta.name, b->meta.name);
		break;
	case 1: c = cmp_dbl_desc(a->calls_per_s, b->calls_per_s); break;
	case 2: c = cmp_dbl_desc(a->fail_pct, b->fail_pct); break;
	case 3: c = cmp_u64_desc(a->p99_ns, b->p99_ns); break;
	case 4: c = cmp_u64_desc(a->meta.swaps, b->meta.swaps); break;
	}
	return c != 0 ? c : ia < ib ? -1 : ia > ib;
}

static int
cmp_channels(const void *pa, const void *pb, void *arg)
{
	const struct screen *sc = arg;
	unsigned ia = *(const unsigned *)pa, ib = *(const unsigned *)pb;
	const struct nx_hr_chan *a = &sc->s->chans[ia], *b = &sc->s->chans[ib];
	int c = 0;

	switch (sc->sort[T_CHANNELS]) {
	case 1: c = cmp_dbl_desc(a->req_per_s, b->req_per_s); break;
	case 2: c = cmp_u64_desc(a->raw.depth, b->raw.depth); break;
	case 3: c = cmp_u64_desc(a->raw.outstanding, b->raw.outstanding); break;
	case 4: c = cmp_u64_desc(a->raw.errors, b->raw.errors); break;
	}
	return c != 0 ? c : ia < ib ? -1 : ia > ib;
}

/* The current table's rows in sort order, in sc->order. @return rows, or
 * 0 when memory ran out (the table then shows nothing, and says why). */
static unsigned
sorted_rows(struct screen *sc, unsigned n, int (*cmp)(const void *, const void *, void *))
{
	unsigned i;

	if (n > sc->order_cap) {
		unsigned *o = realloc(sc->order, n * sizeof *o);

		if (o == NULL) {
			snprintf(sc->msg, sizeof sc->msg, "out of memory sorting %u rows", n);
			return 0;
		}
		sc->order = o;
		sc->order_cap = n;
	}
	for (i = 0; i < n; i++)
		sc->order[i] = i;
	qsort_r(sc->order, n, sizeof *sc->order, cmp, sc);
	return n;
}

/* ---- the parts of the screen ---- */

/* Rows 0-2: instance, generation, state, uptime, restarts; health and
 * why (or since when it is down); totals. */
static void
draw_header(const struct screen *sc)
{
	const struct nx_hr_snap *s = sc->s;
	char up[32], when[32], rate[32];
	double total = 0;
	unsigned i;

	nxtop_fmt_uptime(up, sizeof up, s->uptime_ns);
	put(0, 0, A_BOLD, "nxtop  instance %s  generation %llu  pid %d  %s  up %s  restarts %llu",
	    sc->instance, (unsigned long long)s->hdr.generation, s->hdr.pid,
	    nx__hr_snap_state(s), s->up ? up : "-",
	    (unsigned long long)s->hdr.restarts);
	put(0, COLS > 24 ? COLS - 24 : 0, sc->paused ? A_REVERSE | A_BOLD : A_NORMAL, "%s every %.2gs",
	    sc->paused ? "PAUSED" : "      ", sc->delay);
	put(1, 0, A_NORMAL, "health: ");
	if (s->up) {
		put(1, 8, health_attr(sc, s->health), "%s", nx__hstate_name(s->health));
		if (s->why[0] != '\0')
			put(1, 8 + (int)strlen(nx__hstate_name(s->health)), A_NORMAL, "  %s", s->why);
	} else if (s->hdr.generation != 0) {
		nx__hr_fmt_wall(when, sizeof when, s->down_since_wall_ns);
		put(1, 8, health_attr(sc, NX_H_DOWN), "down since %s", when);
		put(1, 8 + 11 + (int)strlen(when), A_NORMAL, "  last generation %llu: %s",
		    (unsigned long long)s->hdr.generation, s->why);
	} else {
		put(1, 8, health_attr(sc, NX_H_DOWN), "down");
		put(1, 12, A_NORMAL, "  %s", s->why);
	}
	for (i = 0; i < s->nworkers; i++)
		total += s->workers[i].req_per_s;
	nxtop_fmt_rate(rate, sizeof rate, total);
	put(2, 0, A_NORMAL, "workers %u  pipelines %u  stage slots %u  channels %u  requests/s %s",
	    s->nworkers, s->npipes, s->nslots, s->nchans, rate);
}

/* Row 3: which table, its sort column, the main keys. */
static void
draw_tabs(const struct screen *sc)
{
	int x = 0;
	unsigned t;

	for (t = 0; t < T_COUNT; t++) {
		put(3, x, t == sc->table ? A_REVERSE | A_BOLD : A_NORMAL, " %u %s ", t + 1,
		    table_names[t]);
		x += (int)strlen(table_names[t]) + 5;
	}
	put(3, x + 2, A_NORMAL, "sort: %s   s sort  d interval  p pause  h help  q quit",
	    sort_names[sc->table][sc->sort[sc->table]]);
}

static void
draw_workers(struct screen *sc, int y, int rows)
{
	const struct nx_hr_snap *s = sc->s;
	unsigned i, n = sorted_rows(sc, s->nworkers, cmp_workers);

	put(y++, 0, A_REVERSE, "%-4s %4s %-9s %9s %6s %8s %8s %8s %12s %8s  %-s%*s", "W", "CPU",
	    "STATE", "REQ/S", "BUSY%", "P50", "P99", "HB AGE", "ANSWERED", "ERRORS", "HEALTH",
	    COLS, "");
	for (i = 0; i < n && (int)i < rows - 1; i++) {
		const struct nx_hr_worker *w = &s->workers[sc->order[i]];
		char rate[16], p50[16], p99[16], hb[16];
		uint64_t errs = 0;
		unsigned k;

		for (k = 0; k < NX_WERR_KINDS; k++)
			errs += w->raw.errors[k];
		nxtop_fmt_rate(rate, sizeof rate, w->req_per_s);
		dur_or_dash(p50, sizeof p50, w->p50_ns, w->samples);
		dur_or_dash(p99, sizeof p99, w->p99_ns, w->samples);
		nxtop_fmt_dur(hb, sizeof hb, w->hb_age_ns);
		put(y++, 0, row_attr(sc, w->health),
		    "%-4u %4d %-9s %9s %6.1f %8s %8s %8s %12llu %8llu  %s %s", sc->order[i], w->raw.cpu,
		    nx__hr_worker_state_name(w->raw.state), rate, w->busy_pct, p50, p99, hb,
		    (unsigned long long)w->raw.answered, (unsigned long long)errs,
		    nx__hstate_name(w->health), w->why);
	}
	if (n == 0)
		put(y, 0, A_DIM, "  (no workers)");
}

static void
draw_stages(struct screen *sc, int y, int rows)
{
	const struct nx_hr_snap *s = sc->s;
	unsigned i, n = sorted_rows(sc, s->nslots, cmp_stages);

	put(y++, 0, A_REVERSE, "%-24s %-12s %4s %5s %12s %9s %6s %6s %8s %-10s %6s  %-s%*s",
	    "PIPELINE/SLOT", "STAGE", "VER", "SWAPS", "CALLS", "CALLS/S", "FAIL%", "CONSEC", "P99",
	    "BREAKER", "DEGR", "HEALTH", COLS, "");
	for (i = 0; i < n && (int)i < rows - 1; i++) {
		const struct nx_hr_slot *sl = &s->slots[sc->order[i]];
		char name[72], rate[16], p99[16];

		snprintf(name, sizeof name, "%s/%s", sl->meta.pipe, sl->meta.name);
		nxtop_fmt_rate(rate, sizeof rate, sl->calls_per_s);
		dur_or_dash(p99, sizeof p99, sl->p99_ns, sl->timed);
		put(y++, 0, row_attr(sc, sl->health),
		    "%-24s %-12s %4llu %5llu %12llu %9s %6.1f %6llu %8s %-10s %6llu  %s %s", name,
		    sl->meta.stage, (unsigned long long)sl->meta.version,
		    (unsigned long long)sl->meta.swaps, (unsigned long long)sl->calls, rate,
		    sl->fail_pct, (unsigned long long)sl->consec_failures, p99,
		    sl->quarantined ? "QUARANTINE" : nx__brk_state_name(sl->breaker),
		    (unsigned long long)sl->degraded, nx__hstate_name(sl->health), sl->why);
	}
	if (n == 0)
		put(y, 0, A_DIM, "  (no stage slots)");
}

static void
draw_channels(struct screen *sc, int y, int rows)
{
	const struct nx_hr_snap *s = sc->s;
	unsigned i, n = sorted_rows(sc, s->nchans, cmp_channels);

	put(y++, 0, A_REVERSE, "%-4s %8s %-9s %3s %6s %6s %9s %12s %8s %8s %8s %8s%*s", "CH", "PID",
	    "STATE", "W", "DEPTH", "OUTST", "REQ/S", "ANSWERED", "ERRORS", "LIMITED", "EXPIRED",
	    "IDLE", COLS, "");
	for (i = 0; i < n && (int)i < rows - 1; i++) {
		const struct nx_hr_chan *c = &s->chans[sc->order[i]];
		char rate[16], idle[16];

		nxtop_fmt_rate(rate, sizeof rate, c->req_per_s);
		nxtop_fmt_dur(idle, sizeof idle, c->idle_ns);
		put(y++, 0, c->raw.state == NX_CHAN_ORPHANED ? health_attr(sc, NX_H_DEGRADED) : A_NORMAL,
		    "%-4u %8d %-9s %3u %6u %6u %9s %12llu %8llu %8llu %8llu %8s", c->index, c->raw.pid,
		    nx__hr_chan_state_name(c->raw.state), c->raw.worker, c->raw.depth,
		    c->raw.outstanding, rate, (unsigned long long)c->raw.answered,
		    (unsigned long long)c->raw.errors, (unsigned long long)c->raw.rate_limited,
		    (unsigned long long)c->raw.expired, idle);
	}
	if (n == 0)
		put(y, 0, A_DIM, "  (no channels: no client attached)");
}

/* The last few restarts, from row y: time, generation, old pid, reason. */
static void
draw_restarts(const struct screen *sc, int y)
{
	const struct nx_hr_snap *s = sc->s;
	unsigned i, first = s->nrestarts > RESTARTS_SHOWN ? s->nrestarts - RESTARTS_SHOWN : 0;

	put(y++, 0, A_BOLD, "restarts: %llu%s", (unsigned long long)s->hdr.restarts,
	    s->nrestarts != 0 ? " (latest last)" : "");
	for (i = first; i < s->nrestarts; i++) {
		const struct nx_health_restart *rs = &s->restarts[i];
		char when[32], down[16];

		nx__hr_fmt_wall(when, sizeof when, rs->wall_ns);
		nxtop_fmt_dur(down, sizeof down, rs->down_ns);
		put(y++, 0, A_NORMAL, "  %s  generation %-4llu old pid %-7d down %-8s %s", when,
		    (unsigned long long)rs->generation, rs->old_pid, down, rs->reason);
	}
}

static void
draw_status(const struct screen *sc)
{
	if (sc->entering)
		put(LINES - 1, 0, A_BOLD, "refresh interval in seconds (Enter sets, Esc cancels): %s",
		    sc->entry);
	else if (sc->msg[0] != '\0')
		put(LINES - 1, 0, A_BOLD, "%s", sc->msg);
}

static void
draw_help(void)
{
	static const char *const lines[] = {
		"nxtop keys",
		"",
		"  1  workers table     2  stages table     3  channels table",
		"  s  next sort column of the current table",
		"  d  refresh interval: type seconds, Enter (Esc cancels)",
		"  p  pause / resume (the figures stay as they were)",
		"  h  this help (any key closes it)",
		"  q  quit",
		"",
		"Rates and p50/p99 are over the last interval; fail% over the",
		"reader's 10 s window. Health: healthy, degraded, unhealthy, down.",
	};
	const int n = (int)(sizeof lines / sizeof lines[0]);
	int w = 70, h = n + 2, i;
	WINDOW *win;

	if (w > COLS)
		w = COLS;
	if (h > LINES)
		h = LINES;
	win = newwin(h, w, (LINES - h) / 2, (COLS - w) / 2);
	if (win == NULL)
		return;
	werase(win);
	box(win, 0, 0);
	for (i = 0; i < n && i + 1 < h - 1; i++)
		mvwaddnstr(win, i + 1, 2, lines[i], w - 4);
	wnoutrefresh(win);
	delwin(win);
}

static void
draw(struct screen *sc)
{
	int restart_rows = 1 + (int)(sc->s->nrestarts < RESTARTS_SHOWN ? sc->s->nrestarts
								     : RESTARTS_SHOWN);
	int top = 5, rows = LINES - top - restart_rows - 2;

	erase();
	draw_header(sc);
	draw_tabs(sc);
	if (rows < 2)
		rows = 2;
	switch (sc->table) {
	case T_WORKERS: draw_workers(sc, top, rows); break;
	case T_STAGES: draw_stages(sc, top, rows); break;
	case T_CHANNELS: draw_channels(sc, top, rows); break;
	case T_COUNT: break;
	}
	draw_restarts(sc, top + rows + 1);
	draw_status(sc);
	wnoutrefresh(stdscr);
	if (sc->help)
		draw_help();
	doupdate();
}

/* ---- input ---- */

/* A key while typing the refresh interval. */
static void
entry_key(struct screen *sc, int ch)
{
	size_t n = strlen(sc->entry);
	char *end;
	double d;

	if (ch == 27) {
		sc->entering = false;
	} else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
		if (n > 0)
			sc->entry[n - 1] = '\0';
	} else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
		sc->entering = false;
		d = strtod(sc->entry, &end);
		if (end == sc->entry || *end != '\0' || !(d >= 0.05) || d > 3600)
			snprintf(sc->msg, sizeof sc->msg, "'%s' is not 0.05 to 3600 seconds", sc->entry);
		else
			sc->delay = d;
	} else if (((ch >= '0' && ch <= '9') || ch == '.') && n + 1 < sizeof sc->entry) {
		sc->entry[n] = (char)ch;
		sc->entry[n + 1] = '\0';
	}
}

/* @return false to quit */
static bool
key(struct screen *sc, int ch)
{
	if (sc->entering) {
		entry_key(sc, ch);
		return true;
	}
	sc->msg[0] = '\0';
	if (ch == 'q' || ch == 'Q')
		return false;
	if (sc->help) {
		sc->help = false;
		return true;
	}
	switch (ch) {
	case '1': sc->table = T_WORKERS; break;
	case '2': sc->table = T_STAGES; break;
	case '3': sc->table = T_CHANNELS; break;
	case 's': sc->sort[sc->table] = (sc->sort[sc->table] + 1) % NSORT; break;
	case 'p': sc->paused = !sc->paused; break;
	case 'h': case '?': sc->help = true; break;
	case 'd':
		sc->entering = true;
		sc->entry[0] = '\0';
		break;
	case KEY_RESIZE: break;
	default:
		snprintf(sc->msg, sizeof sc->msg, "unknown key; h for help");
	}
	return true;
}

static int
snapshot(struct screen *sc)
{
	int rc = nx__hr_snapshot(sc->r, &sc->s);

	if (rc < 0)
		snprintf(sc->msg, sizeof sc->msg, "%s", nx_errmsg());
	return rc;
}

int
nxtop_screen_run(struct nx_hr *r, const char *instance, double delay)
{
	struct screen sc = { .r = r, .instance = instance, .delay = delay };
	uint64_t next_ns;
	int rc = snapshot(&sc), ch;

	if (rc < 0) {
		fprintf(stderr, "nxtop: instance '%s': %s\n", instance, nx_errmsg());
		return 1;
	}
	setlocale(LC_ALL, ""); /* line drawing in UTF-8 terminals; batch output stays in "C" */
	if (initscr() == NULL) {
		fprintf(stderr, "nxtop: cannot start the terminal screen (TERM=%s)\n",
			getenv("TERM") != NULL ? getenv("TERM") : "");
		return 1;
	}
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	curs_set(0);
	set_escdelay(25);
	if (has_colors() && start_color() == OK) {
		use_default_colors();
		init_pair(C_OK, COLOR_GREEN, -1);
		init_pair(C_WARN, COLOR_YELLOW, -1);
		init_pair(C_BAD, COLOR_RED, -1);
		init_pair(C_DOWN, COLOR_MAGENTA, -1);
		sc.colors = true;
	}
	next_ns = nx__clock_ns() + (uint64_t)(sc.delay * 1e9);
	for (;;) {
		uint64_t now = nx__clock_ns();

		draw(&sc);
		timeout(now >= next_ns ? 0 : (int)((next_ns - now) / 1000000) + 1);
		ch = getch();
		if (ch != ERR) {
			double was = sc.delay;

			if (!key(&sc, ch))
				break;
			if (sc.delay != was)
				next_ns = nx__clock_ns() + (uint64_t)(sc.delay * 1e9);
			continue;
		}
		now = nx__clock_ns();
		if (now < next_ns)
			continue;
		next_ns = now + (uint64_t)(sc.delay * 1e9);
		/* a segment this reader cannot read (yet) is said on the status
		 * line; the last figures stay */
		if (!sc.paused)
			snapshot(&sc);
	}
	endwin();
	free(sc.order);
	return 0;
}
