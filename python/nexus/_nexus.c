/*
 * _nexus.c - the C half of the Python client (import nexus): libnx's
 * client calls as methods of nexus.Client.
 *
 * Why a C extension and not ctypes or cffi: the GIL is released around
 * libnx's waits (nx_call, nx_wait), which a ctypes call does too but at
 * several microseconds of argument conversion per call; payloads reach
 * libnx through the buffer protocol with no copy before libnx's own into
 * shared memory; answers are written by libnx straight into the bytes
 * object that is returned (or the caller's buffer); and it needs nothing
 * but Debian's python3-dev (cffi's compiler mode wants setuptools).
 *
 * Threads: a struct nx_client belongs to one thread at a time. A Client
 * marks itself busy for the whole of each method (its wait in libnx
 * without the GIL included); any other use meanwhile, from another thread
 * or from Python code the method itself set off, is refused with an
 * exception, never let through.
 *
 * Requests in flight (submit) keep, per request, the object the answer
 * goes into and the caller's user_data, in a table indexed by the
 * request's libnx user_data, until their completion is taken.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structseq.h>

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <nx/nx.h>

/* ---- errors ---- */

/* The exception class for each code, indexed by -code; set by the
 * package's __init__.py (the classes are Python, for their docstrings). */
static PyObject *err_base;
static PyObject *err_class[-NX_ERRNO_MIN + 1];

static PyObject *
err_make(int code, const char *detail)
{
	PyObject *cls = err_base;

	PyObject *d, *e;

	if (code < 0 && code >= NX_ERRNO_MIN && err_class[-code] != NULL)
		cls = err_class[-code];
	if (cls == NULL) /* the package did not register its classes */
		cls = PyExc_RuntimeError;
	/* libnx's message may end in a character cut in half: replace it */
	d = PyUnicode_DecodeUTF8(detail != NULL ? detail : "",
				 detail != NULL ? (Py_ssize_t)strlen(detail) : 0, "replace");
	if (d == NULL)
		return NULL;
	e = PyObject_CallFunction(cls, "iO", code, d);
	Py_DECREF(d);
	return e;
}

/* Raise the exception for code, with detail; returns NULL for the caller's return. */
static PyObject *err_raise(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static PyObject *
err_raise(int code, const char *fmt, ...)
{
	char detail[768];
	PyObject *exc;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	exc = err_make(code, detail);
	if (exc != NULL) {
		PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
		Py_DECREF(exc);
	}
	return NULL;
}

static PyObject *
mod_set_errors(PyObject *mod, PyObject *args)
{
	PyObject *base, *map, *key, *val;
	Py_ssize_t pos = 0;

	(void)mod;
	if (!PyArg_ParseTuple(args, "OO!:_set_errors", &base, &PyDict_Type, &map))
		return NULL;
	if (!PyType_Check(base) || !PyType_IsSubtype((PyTypeObject *)base,
						     (PyTypeObject *)PyExc_Exception))
		return PyErr_Format(PyExc_TypeError, "_set_errors: base is not an exception class");
	while (PyDict_Next(map, &pos, &key, &val)) {
		long code = PyLong_AsLong(key);

		if (code == -1 && PyErr_Occurred())
			return NULL;
		if (code >= 0 || code < NX_ERRNO_MIN || !PyType_Check(val))
			return PyErr_Format(PyExc_ValueError, "_set_errors: bad entry %ld", code);
		Py_INCREF(val);
		Py_XSETREF(err_class[-code], val);
	}
	Py_INCREF(base);
	Py_XSETREF(err_base, base);
	Py_RETURN_NONE;
}

/* ---- argument helpers ---- */

/*
 * Keyword arguments of a METH_FASTCALL | METH_KEYWORDS method: fills
 * vals[] (borrowed, NULL when absent) from positional args (at most
 * npos) and keywords by names[]; the first nreq are required.
 */
static int
parse_args(const char *fn, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
	   const char *const *names, PyObject **vals, int npos, int nreq)
{
	int nnames = 0, i;
	Py_ssize_t k, nkw;

	while (names[nnames] != NULL)
		nnames++;
	for (i = 0; i < nnames; i++)
		vals[i] = NULL;
	if (nargs > npos) {
		PyErr_Format(PyExc_TypeError, "%s() takes at most %d positional argument%s (%zd given)",
			     fn, npos, npos == 1 ? "" : "s", nargs);
		return -1;
	}
	for (k = 0; k < nargs; k++)
		vals[k] = args[k];
	nkw = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;
	for (k = 0; k < nkw; k++) {
		PyObject *name = PyTuple_GET_ITEM(kwnames, k);

		for (i = 0; i < nnames; i++)
			if (PyUnicode_CompareWithASCIIString(name, names[i]) == 0)
				break;
		if (i == nnames) {
			PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", fn,
				     name);
			return -1;
		}
		if (vals[i] != NULL) {
			PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", fn,
				     names[i]);
			return -1;
		}
		vals[i] = args[nargs + k];
	}
	for (i = 0; i < nreq; i++)
		if (vals[i] == NULL) {
			PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", fn,
				     names[i]);
			return -1;
		}
	return 0;
}

/* A non-negative integer no larger than max; bool is refused (True is not a size). */
static int
arg_uint(const char *fn, const char *what, PyObject *o, unsigned long long max,
	 unsigned long long *out)
{
	unsigned long long v;
	int overflow;
	long long s;

	if (!PyLong_Check(o) || PyBool_Check(o)) {
		PyErr_Format(PyExc_TypeError, "%s(): %s must be an int, not %.100s", fn, what,
			     Py_TYPE(o)->tp_name);
		return -1;
	}
	s = PyLong_AsLongLongAndOverflow(o, &overflow);
	if (s == -1 && PyErr_Occurred())
		return -1;
	if (overflow < 0 || (overflow == 0 && s < 0)) {
		err_raise(NX_EINVAL, "%s(): %s must not be negative", fn, what);
		return -1;
	}
	if (overflow > 0) {
		v = PyLong_AsUnsignedLongLong(o);
		if (v == (unsigned long long)-1 && PyErr_Occurred()) {
			PyErr_Clear();
			v = ULLONG_MAX;
		}
	} else {
		v = (unsigned long long)s;
	}
	if (v > max) {
		err_raise(NX_EINVAL, "%s(): %s %llu is over its limit %llu", fn, what, v, max);
		return -1;
	}
	*out = v;
	return 0;
}

/*
 * A duration in seconds (int or float) as ns; None is "no limit"
 * (UINT64_MAX) when none_ok. Negative, NaN: refused; beyond what 64 bits
 * of ns hold: no limit.
 */
static int
arg_seconds(const char *fn, const char *what, PyObject *o, int none_ok, uint64_t *ns)
{
	double s;

	if (o == Py_None && none_ok) {
		*ns = UINT64_MAX;
		return 0;
	}
	if (PyBool_Check(o) || !(PyFloat_Check(o) || PyLong_Check(o))) {
		PyErr_Format(PyExc_TypeError, "%s(): %s must be a number of seconds%s, not %.100s", fn,
			     what, none_ok ? " or None" : "", Py_TYPE(o)->tp_name);
		return -1;
	}
	s = PyFloat_AsDouble(o);
	if (s == -1.0 && PyErr_Occurred())
		return -1;
	if (isnan(s) || s < 0) {
		err_raise(NX_EINVAL, "%s(): %s must be a non-negative number of seconds", fn, what);
		return -1;
	}
	*ns = s >= 1.8e10 ? UINT64_MAX : (uint64_t)(s * 1e9);
	return 0;
}

/* ---- the Client ---- */

struct pending {
	PyObject *user_data; /* owned; NULL when the entry is free */
	PyObject *out;       /* owned: the bytes the answer goes into, or the caller's object */
	Py_buffer view;      /* the caller's out buffer, held until the completion */
	int has_view;
};

typedef struct {
	PyObject_HEAD
	struct nx_client *c;
	int busy;       /* a method is running (see HELD_FASTKW) */
	unsigned cap;   /* nx_capacity */
	uint32_t max_payload;
	struct pending *pend; /* cap entries: the requests of submit in flight */
	unsigned head;        /* the oldest in flight */
	unsigned count;       /* how many in flight */
	struct nx_completion *comps; /* cap */
	struct nx_req *reqs;         /* cap, for submit_batch */
	PyObject *instance;
	PyObject *weakrefs;
} Client;

static PyTypeObject Client_Type;
static PyTypeObject Completion_Type;

static int
client_usable(Client *self, const char *fn)
{
	if (self->c == NULL) {
		err_raise(NX_ECLOSED, "%s(): the client is closed", fn);
		return -1;
	}
	return 0;
}

static PyObject *
client_refuse_busy(const char *fn)
{
	return err_raise(NX_EINVAL, "%s(): the client is in use (by another thread, or by a "
				    "method still running: a Client belongs to one thread at a "
				    "time, open one per thread)", fn);
}

static void
pending_release(struct pending *p)
{
	if (p->has_view)
		PyBuffer_Release(&p->view);
	p->has_view = 0;
	Py_CLEAR(p->out);
	Py_CLEAR(p->user_data);
}

static void
client_free_all(Client *self)
{
	unsigned i;

	if (self->c != NULL) {
		/* libnx copies no answer once closed: the buffers may go */
		nx_close(self->c);
		self->c = NULL;
	}
	if (self->pend != NULL)
		for (i = 0; i < self->cap; i++)
			pending_release(&self->pend[i]);
	PyMem_Free(self->pend);
	PyMem_Free(self->comps);
	PyMem_Free(self->reqs);
	self->pend = NULL;
	self->comps = NULL;
	self->reqs = NULL;
	self->count = 0;
}

/* A request in flight holds its user_data and out buffer, which may hold
 * the client: the cycle collector sees those references and can break
 * such a cycle by closing the client. */
static int
Client_traverse(Client *self, visitproc visit, void *arg)
{
	unsigned i;

	if (self->pend != NULL)
		for (i = 0; i < self->cap; i++) {
			Py_VISIT(self->pend[i].user_data);
			Py_VISIT(self->pend[i].out);
		}
	Py_VISIT(self->instance);
	return 0;
}

static int
Client_clear(Client *self)
{
	/* unreachable, so no method runs on it: close, drop the references */
	client_free_all(self);
	Py_CLEAR(self->instance);
	return 0;
}

static void
Client_dealloc(Client *self)
{
	PyObject_GC_UnTrack(self);
	if (self->weakrefs != NULL)
		PyObject_ClearWeakRefs((PyObject *)self);
	client_free_all(self);
	Py_CLEAR(self->instance);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
Client_init(Client *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "instance", "wait", "timeout_ms", "spin_us", NULL };
	PyObject *inst, *wait_o = NULL, *tmo_o = NULL, *spin_o = NULL;
	struct nx_open_opts opts = { 0 };
	unsigned long long v;
	struct nx_client *c = NULL;
	const char *name;
	Py_ssize_t len;
	int rc;

	if (self->busy) {
		client_refuse_busy("Client");
		return -1;
	}
	if (self->c != NULL || self->pend != NULL) {
		err_raise(NX_EINVAL, "Client(): already open");
		return -1;
	}
	if (!PyArg_ParseTupleAndKeywords(args, kw, "U|$OOO:Client", kwlist, &inst, &wait_o,
					 &tmo_o, &spin_o))
		return -1;
	name = PyUnicode_AsUTF8AndSize(inst, &len);
	if (name == NULL)
		return -1;
	if ((size_t)len != strlen(name)) {
		err_raise(NX_EINVAL, "open(): the instance name holds a NUL character");
		return -1;
	}
	opts.wait = NX_WAIT_SLEEP;
	if (wait_o != NULL && wait_o != Py_None) {
		if (!PyUnicode_Check(wait_o)) {
			PyErr_Format(PyExc_TypeError, "open(): wait must be 'spin' or 'sleep', not %.100s",
				     Py_TYPE(wait_o)->tp_name);
			return -1;
		}
		if (PyUnicode_CompareWithASCIIString(wait_o, "spin") == 0) {
			opts.wait = NX_WAIT_SPIN;
		} else if (PyUnicode_CompareWithASCIIString(wait_o, "sleep") != 0) {
			const char *w = PyUnicode_AsUTF8(wait_o);

			if (w != NULL)
				err_raise(NX_EINVAL, "open(): wait must be 'spin' or 'sleep', not '%.40s'", w);
			return -1;
		}
	}
	if (tmo_o != NULL && tmo_o != Py_None) {
		if (arg_uint("open", "timeout_ms", tmo_o, 3600000, &v) < 0)
			return -1;
		if (v == 0) {
			err_raise(NX_EINVAL, "open(): timeout_ms must be at least 1");
			return -1;
		}
		opts.timeout_ms = (uint32_t)v;
	}
	if (spin_o != NULL && spin_o != Py_None) {
		if (arg_uint("open", "spin_us", spin_o, 1000000, &v) < 0)
			return -1;
		opts.spin_ns = v == 0 ? 1 : (uint32_t)(v * 1000);
	}
	/* nx_open may wait for nxd's reply: let other threads run */
	Py_BEGIN_ALLOW_THREADS
	rc = nx_open(&c, name, &opts);
	Py_END_ALLOW_THREADS
	if (rc < 0) {
		/* nx_errmsg is this thread's, which the GIL did not change */
		err_raise(rc, "%s", nx_errmsg());
		return -1;
	}
	self->cap = nx_capacity(c);
	self->max_payload = nx_max_payload(c);
	if (self->cap == 0) {
		nx_close(c);
		err_raise(NX_EPROTO, "open(): the channel has no capacity");
		return -1;
	}
	self->pend = PyMem_Calloc(self->cap, sizeof *self->pend);
	self->comps = PyMem_Calloc(self->cap, sizeof *self->comps);
	self->reqs = PyMem_Calloc(self->cap, sizeof *self->reqs);
	if (self->pend == NULL || self->comps == NULL || self->reqs == NULL) {
		nx_close(c);
		client_free_all(self);
		PyErr_NoMemory();
		return -1;
	}
	self->c = c;
	Py_INCREF(inst);
	Py_XSETREF(self->instance, inst);
	return 0;
}

/* pipeline: an id (int) or a name (str, looked up in shared memory) */
static int
arg_pipeline(Client *self, const char *fn, PyObject *o, uint16_t *id)
{
	unsigned long long v;

	if (PyUnicode_Check(o)) {
		Py_ssize_t len;
		const char *name = PyUnicode_AsUTF8AndSize(o, &len);
		int rc;

		if (name == NULL)
			return -1;
		if ((size_t)len != strlen(name)) {
			err_raise(NX_EINVAL, "%s(): the pipeline name holds a NUL character", fn);
			return -1;
		}
		rc = nx_pipeline_id(self->c, name);
		if (rc < 0) {
			err_raise(rc, "%s", nx_errmsg());
			return -1;
		}
		*id = (uint16_t)rc;
		return 0;
	}
	if (!PyLong_Check(o) || PyBool_Check(o)) {
		PyErr_Format(PyExc_TypeError, "%s(): pipeline must be an id (int) or a name (str), not %.100s",
			     fn, Py_TYPE(o)->tp_name);
		return -1;
	}
	if (arg_uint(fn, "pipeline", o, UINT16_MAX, &v) < 0)
		return -1;
	*id = (uint16_t)v;
	return 0;
}

/* The payload: any contiguous buffer, read where it lies (bytes: no
 * buffer export at all). Release with payload_release. */
struct payload {
	const void *p;
	uint32_t len;
	Py_buffer view;
	int has_view;
};

static int
arg_payload(Client *self, const char *fn, PyObject *o, struct payload *pl)
{
	Py_ssize_t len;

	pl->has_view = 0;
	if (PyBytes_CheckExact(o)) {
		pl->p = PyBytes_AS_STRING(o);
		len = PyBytes_GET_SIZE(o);
	} else {
		if (PyUnicode_Check(o)) {
			PyErr_Format(PyExc_TypeError, "%s(): payload must be bytes, bytearray or memoryview, "
				     "not str (encode it: s.encode())", fn);
			return -1;
		}
		if (PyObject_GetBuffer(o, &pl->view, PyBUF_SIMPLE) < 0) {
			PyErr_Clear();
			PyErr_Format(PyExc_TypeError, "%s(): payload must be bytes, bytearray, memoryview "
				     "or another contiguous buffer, not %.100s", fn, Py_TYPE(o)->tp_name);
			return -1;
		}
		pl->has_view = 1;
		pl->p = pl->view.buf;
		len = pl->view.len;
	}
	if ((uint64_t)len > self->max_payload) {
		if (pl->has_view)
			PyBuffer_Release(&pl->view);
		pl->has_view = 0;
		err_raise(NX_E2BIG, "%s(): payload of %zd bytes, over the channel's %u", fn, len,
			  self->max_payload);
		return -1;
	}
	pl->len = (uint32_t)len;
	return 0;
}

static void
payload_release(struct payload *pl)
{
	if (pl->has_view)
		PyBuffer_Release(&pl->view);
	pl->has_view = 0;
}

static int
arg_out_cap(Client *self, const char *fn, PyObject *o, uint32_t *cap)
{
	unsigned long long v;

	if (o == NULL || o == Py_None) {
		*cap = self->max_payload;
		return 0;
	}
	if (!PyLong_Check(o) || PyBool_Check(o)) {
		PyErr_Format(PyExc_TypeError, "%s(): out_cap must be an int, not %.100s", fn,
			     Py_TYPE(o)->tp_name);
		return -1;
	}
	if (arg_uint(fn, "out_cap", o, ULLONG_MAX, &v) < 0)
		return -1;
	if (v > self->max_payload) {
		err_raise(NX_E2BIG, "%s(): out_cap %llu is over the channel's largest answer, %u", fn, v,
			  self->max_payload);
		return -1;
	}
	*cap = (uint32_t)v;
	return 0;
}

/* A writable contiguous buffer for the answer; cap is its length, at most max_payload. */
static int
arg_out_buffer(Client *self, const char *fn, PyObject *o, Py_buffer *view, uint32_t *cap)
{
	if (PyObject_GetBuffer(o, view, PyBUF_WRITABLE) < 0) {
		PyErr_Clear();
		PyErr_Format(PyExc_TypeError, "%s(): out must be a writable contiguous buffer "
			     "(bytearray, memoryview of one, array...), not %.100s", fn, Py_TYPE(o)->tp_name);
		return -1;
	}
	*cap = (uint64_t)view->len > self->max_payload ? self->max_payload : (uint32_t)view->len;
	return 0;
}

/* o.name, NULL for None; an object without it is not a retry policy */
static int
retry_attr(const char *fn, PyObject *o, const char *name, PyObject **a)
{
	*a = PyObject_GetAttrString(o, name);
	if (*a == NULL) {
		PyErr_Clear();
		PyErr_Format(PyExc_TypeError, "%s(): retry must be None, a number of attempts or a "
			     "nexus.Retry, not %.100s", fn, Py_TYPE(o)->tp_name);
		return -1;
	}
	if (*a == Py_None) {
		Py_DECREF(*a);
		*a = NULL;
	}
	return 0;
}

/* retry: None, an int (attempts) or an object with attempts, idempotent,
 * base and max_backoff attributes (nexus.Retry) */
static int
arg_retry(const char *fn, PyObject *o, struct nx_retry *r, int *on)
{
	unsigned long long v;
	uint64_t ns;
	PyObject *a;

	*on = 0;
	if (o == NULL || o == Py_None)
		return 0;
	*on = 1;
	if (PyLong_Check(o) && !PyBool_Check(o)) {
		if (arg_uint(fn, "retry", o, 1000, &v) < 0)
			return -1;
		if (v == 0) {
			err_raise(NX_EINVAL, "%s(): retry must be at least 1 attempt", fn);
			return -1;
		}
		r->attempts = (uint32_t)v;
		return 0;
	}
	if (PyBool_Check(o)) {
		PyErr_Format(PyExc_TypeError, "%s(): retry must be None, a number of attempts or a "
			     "nexus.Retry, not bool", fn);
		return -1;
	}
	if (retry_attr(fn, o, "attempts", &a) < 0)
		return -1;
	if (a != NULL) {
		int rc = arg_uint(fn, "retry.attempts", a, 1000, &v);

		Py_DECREF(a);
		if (rc < 0)
			return -1;
		if (v == 0) {
			err_raise(NX_EINVAL, "%s(): retry.attempts must be at least 1", fn);
			return -1;
		}
		r->attempts = (uint32_t)v;
	}
	if (retry_attr(fn, o, "idempotent", &a) < 0)
		return -1;
	if (a != NULL) {
		int t = PyObject_IsTrue(a);

		Py_DECREF(a);
		if (t < 0)
			return -1;
		if (t)
			r->flags |= NX_REQ_IDEMPOTENT;
	}
	if (retry_attr(fn, o, "base", &a) < 0)
		return -1;
	if (a != NULL) {
		int rc = arg_seconds(fn, "retry.base", a, 0, &ns);

		Py_DECREF(a);
		if (rc < 0)
			return -1;
		r->base_ns = ns == 0 ? 1 : ns;
	}
	if (retry_attr(fn, o, "max_backoff", &a) < 0)
		return -1;
	if (a != NULL) {
		int rc = arg_seconds(fn, "retry.max_backoff", a, 0, &ns);

		Py_DECREF(a);
		if (rc < 0)
			return -1;
		r->max_ns = ns == 0 ? 1 : ns;
	}
	return 0;
}

/* deadline: seconds from now, made absolute on nx_now_ns()'s clock; 0 = none */
static int
arg_deadline(const char *fn, PyObject *o, uint64_t *deadline_ns)
{
	uint64_t ns, now;

	*deadline_ns = 0;
	if (o == NULL || o == Py_None)
		return 0;
	if (arg_seconds(fn, "deadline", o, 0, &ns) < 0)
		return -1;
	now = nx_now_ns();
	*deadline_ns = ns > UINT64_MAX - now ? UINT64_MAX : now + ns;
	if (*deadline_ns == 0)
		*deadline_ns = 1;
	return 0;
}

static const char *const call_names[] = { "pipeline", "payload", "out_cap", "timeout", "deadline",
					  "retry", "idempotent", NULL };
static const char *const call_into_names[] = { "pipeline", "payload", "out", "timeout", "deadline",
					       "retry", "idempotent", NULL };

/* call and call_into: one request, its answer into out (cap bytes) */
static int
do_call(Client *self, const char *fn, PyObject **v, void *out, uint32_t cap, uint32_t *out_len)
{
	struct nx_retry retry = { 0 };
	struct payload pl;
	uint64_t timeout = 1000000000ull;
	uint16_t pipe;
	int rc, use_retry, idem = 0;

	if (arg_pipeline(self, fn, v[0], &pipe) < 0)
		return -1;
	if (v[3] != NULL && arg_seconds(fn, "timeout", v[3], 1, &timeout) < 0)
		return -1;
	if (arg_retry(fn, v[5], &retry, &use_retry) < 0 || arg_deadline(fn, v[4], &retry.deadline_ns) < 0)
		return -1;
	if (v[6] != NULL && (idem = PyObject_IsTrue(v[6])) < 0)
		return -1;
	if (self->count != 0) {
		err_raise(NX_EINVAL, "%s(): %u submitted requests are in flight: take their "
				     "completions with poll() or wait() first", fn, self->count);
		return -1;
	}
	if (arg_payload(self, fn, v[1], &pl) < 0)
		return -1;
	if (idem)
		retry.flags |= NX_REQ_IDEMPOTENT;
	if (!use_retry)
		retry.attempts = 1;
	use_retry = use_retry || retry.deadline_ns != 0 || idem;
	retry.timeout_ns = timeout == 0 ? 1 : timeout;
	Py_BEGIN_ALLOW_THREADS
	if (use_retry)
		rc = nx_call_retry(self->c, pipe, pl.p, pl.len, out, cap, out_len, &retry);
	else
		rc = nx_call(self->c, pipe, pl.p, pl.len, out, cap, out_len, timeout);
	Py_END_ALLOW_THREADS
	payload_release(&pl);
	if (rc < 0) {
		if (rc == NX_EOVERFLOW)
			err_raise(rc, "%s(): pipeline %u answered %u bytes, over out_cap %u", fn, pipe,
				  *out_len, cap);
		else if (use_retry && retry.tried > 1)
			err_raise(rc, "%s(): pipeline %u, %u attempts, the first failed with %s", fn,
				  pipe, retry.tried, nx_err_name(retry.first_error));
		else
			err_raise(rc, "%s(): pipeline %u", fn, pipe);
		return -1;
	}
	return 0;
}

PyDoc_STRVAR(call_doc,
"call(pipeline, payload, *, out_cap=None, timeout=1.0, deadline=None, retry=None,\n"
"     idempotent=False) -> bytes\n"
"\n"
"Send one request and wait for its answer (nx_call; nx_call_retry with a\n"
"deadline, retries or idempotent). The GIL is released while waiting.\n"
"\n"
"pipeline    an id from pipeline_id(), or a pipeline's name\n"
"payload     bytes, bytearray, memoryview or any contiguous buffer\n"
"out_cap     the largest answer accepted, in bytes (default: max_payload);\n"
"            a larger answer raises AnswerTooLarge. At most 192 (with a\n"
"            payload of at most 192) is faster: the answer then rides in\n"
"            the ring's slot, not in the channel's arena\n"
"timeout     seconds to wait for the answer (each attempt); None: no limit\n"
"deadline    seconds from now: nxd refuses to start the request after it\n"
"            (DeadlineExpired), and no retry starts after it\n"
"retry       None, a number of attempts, or a nexus.Retry\n"
"idempotent  the request may run twice: retried also after errors where\n"
"            it may have run (Restarted, StageError, Timeout)\n"
"\n"
"Returns the answer; the answer is written by libnx straight into the\n"
"bytes object returned. Raises a nexus.Error subclass on any error.");

static PyObject *
Client_call(Client *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	PyObject *v[7], *out;
	uint32_t cap, out_len = 0;

	if (parse_args("call", args, nargs, kwnames, call_names, v, 2, 2) < 0 ||
	    client_usable(self, "call") < 0 || arg_out_cap(self, "call", v[2], &cap) < 0)
		return NULL;
	out = PyBytes_FromStringAndSize(NULL, cap);
	if (out == NULL)
		return NULL;
	if (do_call(self, "call", v, PyBytes_AS_STRING(out), cap, &out_len) < 0) {
		Py_DECREF(out);
		return NULL;
	}
	if (out_len != cap && _PyBytes_Resize(&out, out_len) < 0)
		return NULL;
	return out;
}

PyDoc_STRVAR(call_into_doc,
"call_into(pipeline, payload, out, *, timeout=1.0, deadline=None, retry=None,\n"
"          idempotent=False) -> int\n"
"\n"
"call(), with the answer written by libnx into out, a writable buffer\n"
"(bytearray, memoryview...), with nothing allocated. Returns the answer's\n"
"length; an answer longer than out raises AnswerTooLarge.");

static PyObject *
Client_call_into(Client *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	PyObject *v[7];
	Py_buffer view;
	uint32_t cap, out_len = 0;
	int rc;

	if (parse_args("call_into", args, nargs, kwnames, call_into_names, v, 3, 3) < 0 ||
	    client_usable(self, "call_into") < 0 || arg_out_buffer(self, "call_into", v[2], &view, &cap) < 0)
		return NULL;
	rc = do_call(self, "call_into", v, view.buf, cap, &out_len);
	PyBuffer_Release(&view);
	if (rc < 0)
		return NULL;
	return PyLong_FromUnsignedLong(out_len);
}

/* ---- submit ---- */

/* Prepare req for one request of submit/submit_batch, into the free entry
 * at the tail of the table; nothing kept on failure. */
static int
prepare(Client *self, const char *fn, struct nx_req *req, struct pending *p, PyObject *pipe_o,
	PyObject *payload_o, PyObject *user_data, PyObject *out_o, uint32_t out_cap, int has_cap,
	struct payload *pl)
{
	uint16_t pipe;

	if (p->user_data != NULL) {
		err_raise(NX_EPROTO, "%s(): the request table is out of step with libnx", fn);
		return -1;
	}
	if (arg_pipeline(self, fn, pipe_o, &pipe) < 0 || arg_payload(self, fn, payload_o, pl) < 0)
		return -1;
	if (out_o != NULL && out_o != Py_None) {
		uint32_t cap;

		if (arg_out_buffer(self, fn, out_o, &p->view, &cap) < 0) {
			payload_release(pl);
			return -1;
		}
		p->has_view = 1;
		Py_INCREF(out_o);
		p->out = out_o;
		req->out = p->view.buf;
		req->out_cap = has_cap && out_cap < cap ? out_cap : cap;
	} else {
		p->out = PyBytes_FromStringAndSize(NULL, out_cap);
		if (p->out == NULL) {
			payload_release(pl);
			return -1;
		}
		req->out = PyBytes_AS_STRING(p->out);
		req->out_cap = out_cap;
	}
	Py_INCREF(user_data);
	p->user_data = user_data;
	req->in = pl->p;
	req->in_len = pl->len;
	req->pipeline = pipe;
	req->reserved = 0;
	return 0;
}

static int
submit_error(Client *self, const char *fn, int rc)
{
	if (rc == NX_EAGAIN)
		err_raise(rc, "%s(): %u requests in flight, the channel's window (%u) is full: take "
			      "completions with poll() or wait() first", fn, nx_outstanding(self->c),
			  self->cap);
	else
		err_raise(rc, "%s()", fn);
	return -1;
}

static const char *const submit_names[] = { "pipeline", "payload", "user_data", "out", "out_cap",
					    "deadline", "idempotent", NULL };

PyDoc_STRVAR(submit_doc,
"submit(pipeline, payload, *, user_data=None, out=None, out_cap=None,\n"
"       deadline=None, idempotent=False) -> None\n"
"\n"
"Send one request without waiting (nx_submit); its completion comes from\n"
"poll() or wait(), in submission order, with user_data. Up to capacity\n"
"requests may be in flight; past that, raises Overloaded (EAGAIN).\n"
"\n"
"out        a writable buffer the answer is written into (held until the\n"
"           completion is taken); default: a bytes object of out_cap\n"
"out_cap    the largest answer accepted (default: max_payload, or len(out));\n"
"           each request in flight reserves that much of the channel's arena\n"
"           (1 MiB by default) unless it and the payload are at most 192\n"
"deadline   seconds from now: nxd refuses to start the request after it");

static PyObject *
Client_submit(Client *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	PyObject *v[7];
	struct nx_req req = { 0 };
	struct payload pl;
	struct pending *p;
	uint32_t cap;
	unsigned slot;
	int rc, idem = 0;

	if (parse_args("submit", args, nargs, kwnames, submit_names, v, 2, 2) < 0 ||
	    client_usable(self, "submit") < 0 || arg_out_cap(self, "submit", v[4], &cap) < 0 ||
	    arg_deadline("submit", v[5], &req.deadline_ns) < 0)
		return NULL;
	if (v[6] != NULL && (idem = PyObject_IsTrue(v[6])) < 0)
		return NULL;
	if (self->count >= self->cap || nx_outstanding(self->c) >= self->cap) {
		submit_error(self, "submit", NX_EAGAIN);
		return NULL;
	}
	slot = (self->head + self->count) % self->cap;
	p = &self->pend[slot];
	if (prepare(self, "submit", &req, p, v[0], v[1], v[2] != NULL ? v[2] : Py_None, v[3], cap,
		    v[4] != NULL && v[4] != Py_None, &pl) < 0)
		return NULL;
	req.user_data = slot;
	req.flags = idem ? NX_REQ_IDEMPOTENT : 0;
	rc = nx_submit(self->c, &req);
	payload_release(&pl); /* copied by nx_submit */
	if (rc < 0) {
		pending_release(p);
		submit_error(self, "submit", rc);
		return NULL;
	}
	self->count++;
	Py_RETURN_NONE;
}

static const char *const batch_names[] = { "requests", "out_cap", "deadline", "idempotent", NULL };

PyDoc_STRVAR(submit_batch_doc,
"submit_batch(requests, *, out_cap=None, deadline=None, idempotent=False) -> int\n"
"\n"
"Send several requests at once (nx_submit_batch), in order. requests is a\n"
"sequence of (pipeline, payload) or (pipeline, payload, user_data) tuples.\n"
"Stops at the first that cannot go (the window full, a payload too large):\n"
"returns how many went; raises when not even the first could.");

static PyObject *
Client_submit_batch(Client *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	PyObject *v[4], *seq;
	struct payload *pls = NULL;
	uint64_t deadline = 0;
	Py_ssize_t n, i, k = 0;
	unsigned room, done = 0, j;
	uint32_t cap;
	int rc = 0, idem = 0;

	if (parse_args("submit_batch", args, nargs, kwnames, batch_names, v, 1, 1) < 0 ||
	    client_usable(self, "submit_batch") < 0 || arg_out_cap(self, "submit_batch", v[1], &cap) < 0 ||
	    arg_deadline("submit_batch", v[2], &deadline) < 0)
		return NULL;
	if (v[3] != NULL && (idem = PyObject_IsTrue(v[3])) < 0)
		return NULL;
	if (PyUnicode_Check(v[0]) || PyBytes_Check(v[0]) || PyByteArray_Check(v[0])) {
		PyErr_Format(PyExc_TypeError, "submit_batch(): requests must be a sequence of "
			     "(pipeline, payload[, user_data]) tuples, not %.100s", Py_TYPE(v[0])->tp_name);
		return NULL;
	}
	seq = PySequence_Fast(v[0], "submit_batch(): requests must be a sequence of "
				    "(pipeline, payload[, user_data]) tuples");
	if (seq == NULL)
		return NULL;
	n = PySequence_Fast_GET_SIZE(seq);
	if (n == 0) {
		Py_DECREF(seq);
		return PyLong_FromLong(0);
	}
	room = self->cap - self->count;
	if (nx_outstanding(self->c) >= self->cap)
		room = 0;
	else if (room > self->cap - nx_outstanding(self->c))
		room = self->cap - nx_outstanding(self->c);
	if (room == 0) {
		Py_DECREF(seq);
		submit_error(self, "submit_batch", NX_EAGAIN);
		return NULL;
	}
	if (n > (Py_ssize_t)room)
		n = room; /* what cannot go is not prepared */
	pls = PyMem_Calloc((size_t)n, sizeof *pls);
	if (pls == NULL) {
		Py_DECREF(seq);
		return PyErr_NoMemory();
	}
	for (i = 0; i < n; i++) {
		PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
		unsigned slot = (self->head + self->count + (unsigned)i) % self->cap;
		struct nx_req *r = &self->reqs[i];
		Py_ssize_t len;

		if (!PyTuple_Check(item) || (len = PyTuple_GET_SIZE(item)) < 2 || len > 3) {
			PyErr_Format(PyExc_TypeError, "submit_batch(): request %zd must be a tuple "
				     "(pipeline, payload[, user_data]), not %.100s", i, Py_TYPE(item)->tp_name);
			goto err_prepared;
		}
		memset(r, 0, sizeof *r);
		if (prepare(self, "submit_batch", r, &self->pend[slot], PyTuple_GET_ITEM(item, 0),
			    PyTuple_GET_ITEM(item, 1), len == 3 ? PyTuple_GET_ITEM(item, 2) : Py_None,
			    NULL, cap, 1, &pls[i]) < 0)
			goto err_prepared;
		r->user_data = slot;
		r->deadline_ns = deadline;
		r->flags = idem ? NX_REQ_IDEMPOTENT : 0;
		k = i + 1;
	}
	rc = nx_submit_batch(self->c, self->reqs, (unsigned)n, &done);
	for (j = 0; j < (unsigned)n; j++)
		payload_release(&pls[j]); /* copied by libnx, or not sent */
	for (j = done; j < (unsigned)n; j++)
		pending_release(&self->pend[(self->head + self->count + j) % self->cap]);
	self->count += done;
	PyMem_Free(pls);
	Py_DECREF(seq);
	if (done == 0 && rc < 0) {
		submit_error(self, "submit_batch", rc);
		return NULL;
	}
	return PyLong_FromUnsignedLong(done);

err_prepared:
	for (i = 0; i < k; i++) {
		payload_release(&pls[i]);
		pending_release(&self->pend[(self->head + self->count + (unsigned)i) % self->cap]);
	}
	PyMem_Free(pls);
	Py_DECREF(seq);
	return NULL;
}

/* ---- completions ---- */

static PyStructSequence_Field completion_fields[] = {
	{ "user_data", "the user_data given at submit" },
	{ "status", "0, or the negative NX_E* code of the error" },
	{ "data", "the answer (bytes, or a memoryview of the out buffer given), or None on error" },
	{ "degraded", "True when a degraded strategy answered" },
	{ "error", "None, or the nexus.Error (not raised) for status" },
	{ NULL, NULL }
};

static PyStructSequence_Desc completion_desc = {
	"nexus.Completion",
	"The outcome of one submitted request, from poll() or wait():\n"
	"(user_data, status, data, degraded, error).",
	completion_fields, 5
};

/* Take the completion of the entry it names: a Completion, or NULL
 * with an exception set; the entry is freed either way. */
static PyObject *
completion(Client *self, const struct nx_completion *cp)
{
	struct pending *p = &self->pend[cp->user_data];
	PyObject *comp = NULL, *data = NULL, *err = NULL, *status;

	if (cp->status == 0) {
		if (p->has_view) {
			PyObject *mv = PyMemoryView_FromObject(p->out);

			if (mv != NULL)
				data = PySequence_GetSlice(mv, 0, cp->out_len);
			Py_XDECREF(mv);
		} else {
			/* the answer is already in this bytes object: only its length changes */
			data = p->out;
			p->out = NULL;
			if (_PyBytes_Resize(&data, cp->out_len) < 0)
				data = NULL;
		}
		if (data == NULL)
			goto out;
		Py_INCREF(Py_None);
		err = Py_None;
	} else {
		char detail[96];

		if (cp->status == NX_EOVERFLOW)
			snprintf(detail, sizeof detail, "an answer of %u bytes, over out_cap", cp->out_len);
		else
			snprintf(detail, sizeof detail, "a request of submit()");
		err = err_make(cp->status, detail);
		if (err == NULL)
			goto out;
		Py_INCREF(Py_None);
		data = Py_None;
	}
	status = PyLong_FromLong(cp->status);
	if (status == NULL)
		goto out;
	comp = PyStructSequence_New(&Completion_Type);
	if (comp == NULL) {
		Py_DECREF(status);
		goto out;
	}
	Py_INCREF(p->user_data);
	PyStructSequence_SET_ITEM(comp, 0, p->user_data);
	PyStructSequence_SET_ITEM(comp, 1, status);
	PyStructSequence_SET_ITEM(comp, 2, data);
	PyStructSequence_SET_ITEM(comp, 3, PyBool_FromLong(cp->flags & NX_COMP_DEGRADED));
	PyStructSequence_SET_ITEM(comp, 4, err);
	data = err = NULL;
out:
	Py_XDECREF(data);
	Py_XDECREF(err);
	pending_release(p);
	self->count--;
	self->head = (self->head + 1) % self->cap;
	return comp;
}

/* The list of completions for self->comps[0..n); every entry they name
 * is freed, even when the list cannot be made. */
static PyObject *
completions(Client *self, int n)
{
	PyObject *list = PyList_New(n);
	int i;

	for (i = 0; i < n; i++) {
		const struct nx_completion *cp = &self->comps[i];
		PyObject *comp;

		if (cp->user_data >= self->cap || self->pend[cp->user_data].user_data == NULL) {
			if (list != NULL && !PyErr_Occurred())
				err_raise(NX_EPROTO, "a completion for no request in flight");
			Py_CLEAR(list);
			continue;
		}
		if (list == NULL) {
			/* one before failed, its exception set: build nothing more
			 * (no Python call with an exception pending), free the entry */
			pending_release(&self->pend[cp->user_data]);
			self->count--;
			self->head = (self->head + 1) % self->cap;
			continue;
		}
		comp = completion(self, cp);
		if (comp == NULL) {
			Py_CLEAR(list);
			continue;
		}
		PyList_SET_ITEM(list, i, comp);
	}
	return list;
}

static int
arg_max(Client *self, const char *fn, PyObject *o, unsigned *max)
{
	unsigned long long v;

	if (o == NULL || o == Py_None) {
		*max = self->cap;
		return 0;
	}
	if (arg_uint(fn, "max", o, ULLONG_MAX, &v) < 0)
		return -1;
	if (v == 0) {
		err_raise(NX_EINVAL, "%s(): max must be at least 1", fn);
		return -1;
	}
	*max = v > self->cap ? self->cap : (unsigned)v;
	return 0;
}

static const char *const poll_names[] = { "max", NULL };

PyDoc_STRVAR(poll_doc,
"poll(max=None) -> list[Completion]\n"
"\n"
"Take up to max (default: capacity) completions that are ready, in\n"
"submission order, without waiting (nx_poll). [] when none is.");

static PyObject *
Client_poll(Client *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	PyObject *v[1];
	unsigned max;
	int n;

	if (parse_args("poll", args, nargs, kwnames, poll_names, v, 1, 0) < 0 ||
	    client_usable(self, "poll") < 0 || arg_max(self, "poll", v[0], &max) < 0)
		return NULL;
	n = nx_poll(self->c, self->comps, max);
	if (n < 0)
		return err_raise(n, "poll()");
	return completions(self, n);
}

static const char *const wait_names[] = { "max", "timeout", NULL };

PyDoc_STRVAR(wait_doc,
"wait(max=None, timeout=1.0) -> list[Completion]\n"
"\n"
"Wait until at least one completion is ready, then take up to max (default:\n"
"capacity), in submission order (nx_wait). The GIL is released while\n"
"waiting, and Ctrl-C is seen within 0.1 s. timeout in seconds, None: no\n"
"limit. Returns [] when the timeout passes first, or at once when no\n"
"request is in flight.");

static PyObject *
Client_wait(Client *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	PyObject *v[2];
	uint64_t timeout = 1000000000ull, start, slice, now;
	unsigned max;
	int n;

	if (parse_args("wait", args, nargs, kwnames, wait_names, v, 2, 0) < 0 ||
	    client_usable(self, "wait") < 0 || arg_max(self, "wait", v[0], &max) < 0 ||
	    (v[1] != NULL && arg_seconds("wait", "timeout", v[1], 1, &timeout) < 0))
		return NULL;
	if (self->count == 0)
		return PyList_New(0);
	n = nx_poll(self->c, self->comps, max); /* a ready answer costs no GIL round trip */
	if (n < 0)
		return err_raise(n, "wait()");
	start = nx_now_ns();
	while (n == 0) {
		now = nx_now_ns();
		if (now - start >= timeout)
			return PyList_New(0);
		slice = timeout - (now - start);
		if (slice > 100000000ull)
			slice = 100000000ull; /* wake to see signals */
		Py_BEGIN_ALLOW_THREADS
		n = nx_wait(self->c, self->comps, max, slice);
		Py_END_ALLOW_THREADS
		if (n == NX_ETIMEDOUT) {
			n = 0;
			if (PyErr_CheckSignals() < 0)
				return NULL;
		} else if (n < 0) {
			return err_raise(n, "wait()");
		}
	}
	return completions(self, n);
}

/* ---- the rest ---- */

PyDoc_STRVAR(pipeline_id_doc,
"pipeline_id(name) -> int\n"
"\n"
"The id of a pipeline, looked up by name in the instance's directory in\n"
"shared memory (no system call). Raises NoSuchPipeline.");

static PyObject *
Client_pipeline_id(Client *self, PyObject *name)
{
	uint16_t id;

	if (client_usable(self, "pipeline_id") < 0)
		return NULL;
	if (!PyUnicode_Check(name))
		return PyErr_Format(PyExc_TypeError, "pipeline_id(): name must be a str, not %.100s",
				    Py_TYPE(name)->tp_name);
	if (arg_pipeline(self, "pipeline_id", name, &id) < 0)
		return NULL;
	return PyLong_FromLong(id);
}

PyDoc_STRVAR(close_doc,
"close() -> None\n"
"\n"
"Detach from nxd (nx_close). Requests still in flight are abandoned. Closing\n"
"twice is harmless; anything else on a closed client raises ClosedError.");

static PyObject *
Client_close(Client *self, PyObject *unused)
{
	(void)unused;
	if (self->busy)
		return err_raise(NX_EINVAL, "close(): the client is in use by another thread");
	client_free_all(self);
	Py_RETURN_NONE;
}

static PyObject *
Client_enter(Client *self, PyObject *unused)
{
	(void)unused;
	if (client_usable(self, "__enter__") < 0)
		return NULL;
	Py_INCREF(self);
	return (PyObject *)self;
}

static PyObject *
Client_exit(Client *self, PyObject *args)
{
	(void)args;
	if (Client_close(self, NULL) == NULL)
		return NULL;
	Py_DECREF(Py_None);
	Py_RETURN_FALSE;
}

static PyObject *
Client_repr(Client *self)
{
	if (self->c == NULL)
		return PyUnicode_FromFormat("<nexus.Client %R closed>",
					    self->instance != NULL ? self->instance : Py_None);
	return PyUnicode_FromFormat("<nexus.Client %R generation %llu, %u of %u in flight>",
				    self->instance, (unsigned long long)nx_generation(self->c),
				    nx_outstanding(self->c), self->cap);
}

static PyObject *
Client_get_outstanding(Client *self, void *unused)
{
	(void)unused;
	if (self->c == NULL)
		return err_raise(NX_ECLOSED, "outstanding: the client is closed");
	return PyLong_FromUnsignedLong(nx_outstanding(self->c));
}

static PyObject *
Client_get_capacity(Client *self, void *unused)
{
	(void)unused;
	if (self->c == NULL)
		return err_raise(NX_ECLOSED, "capacity: the client is closed");
	return PyLong_FromUnsignedLong(self->cap);
}

static PyObject *
Client_get_max_payload(Client *self, void *unused)
{
	(void)unused;
	if (self->c == NULL)
		return err_raise(NX_ECLOSED, "max_payload: the client is closed");
	return PyLong_FromUnsignedLong(self->max_payload);
}

static PyObject *
Client_get_generation(Client *self, void *unused)
{
	(void)unused;
	if (self->c == NULL)
		return err_raise(NX_ECLOSED, "generation: the client is closed");
	return PyLong_FromUnsignedLongLong(nx_generation(self->c));
}

static PyObject *
Client_get_closed(Client *self, void *unused)
{
	(void)unused;
	return PyBool_FromLong(self->c == NULL);
}

static PyObject *
Client_get_instance(Client *self, void *unused)
{
	(void)unused;
	if (self->instance == NULL)
		Py_RETURN_NONE;
	Py_INCREF(self->instance);
	return self->instance;
}

#define FASTKW (METH_FASTCALL | METH_KEYWORDS)
/*
 * Each method holds the client from its first line to its last, not only
 * while it waits in libnx without the GIL: Python code can run in the
 * middle of one (an exception's __init__, a finalizer the allocator sets
 * off, another thread while the GIL is released), and a close() or another
 * method from there would free or reuse the request table under it. Such
 * a use is refused, as is any use from a second thread meanwhile.
 */

#define HELD_FASTKW(fn, pyname)                                                          \
	static PyObject *fn##_held(Client *self, PyObject *const *args, Py_ssize_t nargs, \
				   PyObject *kwnames)                                    \
	{                                                                                \
		PyObject *r;                                                             \
                                                                                         \
		if (self->busy)                                                          \
			return client_refuse_busy(pyname);                               \
		self->busy = 1;                                                          \
		r = fn(self, args, nargs, kwnames);                                      \
		self->busy = 0;                                                          \
		return r;                                                                \
	}
HELD_FASTKW(Client_call, "call")
HELD_FASTKW(Client_call_into, "call_into")
HELD_FASTKW(Client_submit, "submit")
HELD_FASTKW(Client_submit_batch, "submit_batch")
HELD_FASTKW(Client_poll, "poll")
HELD_FASTKW(Client_wait, "wait")

static PyObject *
Client_pipeline_id_held(Client *self, PyObject *name)
{
	PyObject *r;

	if (self->busy)
		return client_refuse_busy("pipeline_id");
	self->busy = 1;
	r = Client_pipeline_id(self, name);
	self->busy = 0;
	return r;
}

static PyMethodDef Client_methods[] = {
	{ "call", (PyCFunction)(void (*)(void))Client_call_held, FASTKW, call_doc },
	{ "call_into", (PyCFunction)(void (*)(void))Client_call_into_held, FASTKW, call_into_doc },
	{ "submit", (PyCFunction)(void (*)(void))Client_submit_held, FASTKW, submit_doc },
	{ "submit_batch", (PyCFunction)(void (*)(void))Client_submit_batch_held, FASTKW, submit_batch_doc },
	{ "poll", (PyCFunction)(void (*)(void))Client_poll_held, FASTKW, poll_doc },
	{ "wait", (PyCFunction)(void (*)(void))Client_wait_held, FASTKW, wait_doc },
	{ "pipeline_id", (PyCFunction)Client_pipeline_id_held, METH_O, pipeline_id_doc },
	{ "close", (PyCFunction)Client_close, METH_NOARGS, close_doc },
	{ "__enter__", (PyCFunction)Client_enter, METH_NOARGS, "Returns the client itself." },
	{ "__exit__", (PyCFunction)Client_exit, METH_VARARGS, "Closes the client." },
	{ NULL, NULL, 0, NULL }
};

static PyGetSetDef Client_getset[] = {
	{ "outstanding", (getter)Client_get_outstanding, NULL,
	  "Requests sent and not yet completed (nx_outstanding).", NULL },
	{ "capacity", (getter)Client_get_capacity, NULL,
	  "How many requests may be in flight at once (nx_capacity).", NULL },
	{ "max_payload", (getter)Client_get_max_payload, NULL,
	  "The largest payload or answer, in bytes, this channel carries (nx_max_payload).", NULL },
	{ "generation", (getter)Client_get_generation, NULL,
	  "The generation of the nxd this client is attached to; it grows when nxd restarts.", NULL },
	{ "closed", (getter)Client_get_closed, NULL, "True once close() ran.", NULL },
	{ "instance", (getter)Client_get_instance, NULL, "The instance's name.", NULL },
	{ NULL, NULL, NULL, NULL, NULL }
};

PyDoc_STRVAR(Client_doc,
"Client(instance, *, wait='sleep', timeout_ms=5000, spin_us=20)\n"
"\n"
"A client of one nxd instance: its own channel (request and response rings\n"
"in shared memory). Use nexus.open(); as a context manager it closes on exit.\n"
"\n"
"wait        'sleep': spin spin_us microseconds, then sleep on a futex until\n"
"            nxd answers; 'spin': busy-poll (lowest latency, one CPU busy)\n"
"timeout_ms  how long open waits for nxd's reply\n"
"\n"
"A Client belongs to one thread at a time: open one per thread. call() and\n"
"submit() are not mixed while submitted requests are in flight.");

static PyTypeObject Client_Type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "nexus.Client",
	.tp_basicsize = sizeof(Client),
	.tp_dealloc = (destructor)Client_dealloc,
	.tp_repr = (reprfunc)Client_repr,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	.tp_traverse = (traverseproc)Client_traverse,
	.tp_clear = (inquiry)Client_clear,
	.tp_doc = Client_doc,
	.tp_weaklistoffset = offsetof(Client, weakrefs),
	.tp_methods = Client_methods,
	.tp_getset = Client_getset,
	.tp_init = (initproc)Client_init,
	.tp_new = PyType_GenericNew,
};

/* ---- module functions ---- */

static int
arg_code(PyObject *o, int *code)
{
	long v;

	if (!PyLong_Check(o) || PyBool_Check(o)) {
		PyErr_Format(PyExc_TypeError, "code must be an int, not %.100s", Py_TYPE(o)->tp_name);
		return -1;
	}
	v = PyLong_AsLong(o);
	if (v == -1 && PyErr_Occurred()) {
		PyErr_Clear();
		v = INT_MIN;
	}
	*code = v < INT_MIN || v > INT_MAX ? INT_MIN : (int)v;
	return 0;
}

static PyObject *
mod_strerror(PyObject *mod, PyObject *o)
{
	int code;

	(void)mod;
	if (arg_code(o, &code) < 0)
		return NULL;
	return PyUnicode_FromString(nx_strerror(code));
}

static PyObject *
mod_err_name(PyObject *mod, PyObject *o)
{
	int code;

	(void)mod;
	if (arg_code(o, &code) < 0)
		return NULL;
	return PyUnicode_FromString(nx_err_name(code));
}

static PyObject *
mod_err_retryable(PyObject *mod, PyObject *args)
{
	PyObject *o;
	int code, idem = 0;

	(void)mod;
	if (!PyArg_ParseTuple(args, "O|p:err_retryable", &o, &idem) || arg_code(o, &code) < 0)
		return NULL;
	return PyBool_FromLong(nx_err_retryable(code, idem));
}

static PyObject *
mod_now_ns(PyObject *mod, PyObject *unused)
{
	(void)mod;
	(void)unused;
	return PyLong_FromUnsignedLongLong(nx_now_ns());
}

static PyMethodDef mod_methods[] = {
	{ "strerror", mod_strerror, METH_O, "strerror(code) -> str: what an NX_E* code means." },
	{ "err_name", mod_err_name, METH_O, "err_name(code) -> str: an NX_E* code's name ('ETIMEDOUT')." },
	{ "err_retryable", mod_err_retryable, METH_VARARGS,
	  "err_retryable(code, idempotent=False) -> bool: whether the error may go away by itself\n"
	  "(nx_err_retryable)." },
	{ "now_ns", mod_now_ns, METH_NOARGS, "now_ns() -> int: the clock deadlines use, in ns." },
	{ "_set_errors", mod_set_errors, METH_VARARGS, "(internal) the exception classes." },
	{ NULL, NULL, 0, NULL }
};

static struct PyModuleDef nexus_module = {
	PyModuleDef_HEAD_INIT, "nexus._nexus",
	"The C half of the nexus client: libnx's calls. Use the nexus package.", -1, mod_methods,
	NULL, NULL, NULL, NULL
};

PyMODINIT_FUNC PyInit__nexus(void);

PyMODINIT_FUNC
PyInit__nexus(void)
{
	PyObject *m;

	if (PyType_Ready(&Client_Type) < 0)
		return NULL;
	if (Completion_Type.tp_name == NULL &&
	    PyStructSequence_InitType2(&Completion_Type, &completion_desc) < 0)
		return NULL;
	m = PyModule_Create(&nexus_module);
	if (m == NULL)
		return NULL;
	Py_INCREF(&Client_Type);
	Py_INCREF(&Completion_Type);
	if (PyModule_AddObject(m, "Client", (PyObject *)&Client_Type) < 0 ||
	    PyModule_AddObject(m, "Completion", (PyObject *)&Completion_Type) < 0)
		goto err;
#define ADD_CODE(name, val, msg)                                           \
	if (PyModule_AddIntConstant(m, #name, val) < 0)                    \
		goto err;
	NX_ERRNO_MAP(ADD_CODE)
#undef ADD_CODE
	if (PyModule_AddIntConstant(m, "INLINE_MAX", NX_INLINE_MAX) < 0 ||
	    PyModule_AddIntConstant(m, "ABI_VERSION", NX_ABI_VERSION) < 0 ||
	    PyModule_AddIntConstant(m, "ERRNO_MIN", NX_ERRNO_MIN) < 0)
		goto err;
	return m;
err:
	Py_DECREF(m);
	return NULL;
}
