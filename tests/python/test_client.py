"""The Python client against a real nxd: calls, many in flight, batches,
deadlines, retries, every payload type, errors as exceptions with nexus's
code and message, close, the GIL released while waiting, hostile input."""

import array
import gc
import os
import signal
import threading
import weakref
import time

import pytest

import nexus
from conftest import BUDGET


# ---- call ----

def test_call_answers_with_the_echo(client):
    assert client.call("echo", b"hello, nexus") == b"hello, nexus"
    echo = client.pipeline_id("echo")
    assert isinstance(echo, int) and echo >= 0
    assert client.call(echo, b"") == b""


@pytest.mark.parametrize("size", [0, 1, 56, 57, 192, 193, 4096, 65536])
def test_call_carries_every_size_up_to_max_payload(client, size):
    size = min(size, client.max_payload)
    payload = os.urandom(size)
    answer = client.call("echo", payload)
    assert type(answer) is bytes and answer == payload


@pytest.mark.parametrize("make", [
    bytes, bytearray, memoryview, lambda b: memoryview(bytearray(b)),
    lambda b: memoryview(b"xx" + b + b"yy")[2:-2], lambda b: array.array("B", b),
])
def test_call_takes_every_buffer_type(client, make):
    assert client.call("echo", make(b"payload 123")) == b"payload 123"


def test_call_into_writes_the_answer_into_the_callers_buffer(client):
    out = bytearray(64)
    n = client.call_into("echo", b"into", out)
    assert n == 4 and out[:4] == b"into"
    mv = memoryview(bytearray(16))[4:]
    assert client.call_into("echo", b"view", mv) == 4 and bytes(mv[:4]) == b"view"


def test_properties(client, nxd):
    assert client.capacity >= 1
    assert client.max_payload >= 56
    assert client.outstanding == 0
    assert client.generation >= 1
    assert client.instance == nxd.instance and not client.closed
    assert nxd.instance in repr(client)


# ---- many in flight ----

def test_submit_then_wait_many_in_flight_in_order(client):
    n = client.capacity
    tokens = [object() for _ in range(n)]
    for i in range(n):
        client.submit("echo", b"req %d" % i, user_data=(i, tokens[i]), out_cap=64)
    assert client.outstanding == n
    got = []
    end = time.monotonic() + BUDGET
    while len(got) < n and time.monotonic() < end:
        got += client.wait(timeout=1.0)
    assert [c.user_data[0] for c in got] == list(range(n))
    for i, comp in enumerate(got):
        assert comp.user_data[1] is tokens[i]
        assert comp.status == 0 and comp.error is None and comp.degraded is False
        assert comp.data == b"req %d" % i
    assert client.outstanding == 0
    assert client.wait(timeout=0) == []
    assert client.poll() == []


def test_poll_never_blocks_and_takes_at_most_max(client):
    for i in range(8):
        client.submit("echo", b"%d" % i, user_data=i)
    got = []
    end = time.monotonic() + BUDGET
    while len(got) < 8 and time.monotonic() < end:
        part = client.poll(3)
        assert len(part) <= 3
        got += part
    assert [c.user_data for c in got] == list(range(8))


def test_submit_into_a_callers_buffer(client):
    bufs = [bytearray(32) for _ in range(4)]
    for i, b in enumerate(bufs):
        client.submit("echo", b"buf %d" % i, user_data=i, out=b)
    got = []
    while len(got) < 4:
        got += client.wait(timeout=BUDGET)
    for c in got:
        assert bytes(c.data) == b"buf %d" % c.user_data
        assert bytes(bufs[c.user_data][:len(c.data)]) == bytes(c.data)


def test_a_full_window_raises_overloaded_and_drains(client):
    for i in range(client.capacity):
        client.submit("echo", b"x", user_data=i, out_cap=8)
    with pytest.raises(nexus.Overloaded) as e:
        client.submit("echo", b"x")
    assert e.value.code == nexus.EAGAIN and e.value.name == "EAGAIN"
    assert "window" in str(e.value) and e.value.retryable()
    got = []
    while len(got) < client.capacity:
        got += client.wait(timeout=BUDGET)
    assert all(c.status == 0 for c in got)


def test_call_while_submitted_requests_are_in_flight_is_refused(client):
    client.submit("echo", b"x")
    with pytest.raises(nexus.InvalidArgument, match="in flight"):
        client.call("echo", b"y")
    assert len(client.wait(timeout=BUDGET)) == 1
    assert client.call("echo", b"y") == b"y"


def test_submit_batch(client):
    reqs = [("echo", b"b%d" % i, i) for i in range(10)] + [(client.pipeline_id("echo"), b"last")]
    assert client.submit_batch(reqs, out_cap=64) == 11
    got = []
    while len(got) < 11:
        got += client.wait(timeout=BUDGET)
    assert [c.data for c in got] == [b"b%d" % i for i in range(10)] + [b"last"]
    assert [c.user_data for c in got] == list(range(10)) + [None]
    assert client.submit_batch([]) == 0


def test_submit_batch_stops_at_the_full_window(client):
    n = client.capacity
    assert client.submit_batch([("echo", b"x", i) for i in range(n + 5)], out_cap=8) == n
    with pytest.raises(nexus.Overloaded):
        client.submit_batch([("echo", b"x")])
    got = []
    while len(got) < n:
        got += client.wait(timeout=BUDGET)
    assert [c.user_data for c in got] == list(range(n))


def test_submit_batch_bad_item_sends_nothing(client):
    with pytest.raises(TypeError, match="request 2"):
        client.submit_batch([("echo", b"a"), ("echo", b"b"), "echo"])
    with pytest.raises(TypeError):
        client.submit_batch([("echo", "text")])
    with pytest.raises(TypeError):
        client.submit_batch("echo")
    with pytest.raises(TypeError):
        client.submit_batch(5)
    with pytest.raises(nexus.NoSuchPipeline):
        client.submit_batch([("echo", b"a"), ("no-such", b"b")])
    assert client.outstanding == 0
    assert client.call("echo", b"still fine") == b"still fine"


# ---- deadlines, retries ----

def test_a_past_deadline_raises_deadline_expired(client):
    with pytest.raises(nexus.DeadlineExpired) as e:
        client.call("echo", b"late", deadline=0)
    err = e.value
    assert err.code == nexus.EEXPIRED == -19 and err.name == "EEXPIRED"
    assert err.message == "deadline expired" and "deadline expired" in str(err)
    assert isinstance(err, nexus.Timeout) and isinstance(err, TimeoutError)
    assert not err.retryable(idempotent=True)
    assert client.call("echo", b"in time", deadline=BUDGET) == b"in time"


def test_a_past_deadline_on_submit_completes_with_the_error(client):
    client.submit("echo", b"late", user_data="l", deadline=0)
    (comp,) = client.wait(timeout=BUDGET)
    assert comp.user_data == "l" and comp.status == nexus.EEXPIRED and comp.data is None
    assert isinstance(comp.error, nexus.DeadlineExpired)


def test_retry_answers(client):
    assert client.call("echo", b"r", retry=3) == b"r"
    assert client.call("echo", b"r", retry=nexus.Retry(attempts=2, idempotent=True)) == b"r"
    assert client.call("echo", b"r", idempotent=True, timeout=BUDGET) == b"r"


def test_retry_tries_again_after_a_rate_limit(own_nxd):
    d = own_nxd("--rate-limit", "1", "--rate-burst", "1")
    with nexus.open(d.instance) as c:
        # the bucket holds one token a second: the first call takes it, the
        # next is refused, and so are its retries unless the machine stalled
        # for a second; then the whole round is tried again (bounded)
        for _ in range(10):
            try:
                c.call("echo", b"first")
            except nexus.RateLimited:
                pass
            try:
                c.call("echo", b"second", retry=nexus.Retry(attempts=3, base=1e-6))
            except nexus.RateLimited as e:
                assert e.code == nexus.ERATELIMIT and e.message == "rate limited"
                assert "3 attempts" in e.detail and "ERATELIMIT" in e.detail
                assert isinstance(e, nexus.Overloaded) and e.retryable()
                return
        pytest.fail("never rate limited")


def test_no_retry_for_an_error_that_stays(client):
    with pytest.raises(nexus.AnswerTooLarge) as e:
        client.call("echo", b"0123456789", out_cap=4, retry=5)
    assert e.value.code == nexus.EOVERFLOW and "attempts" not in e.value.detail


# ---- errors carry nexus's code and message ----

def test_unknown_instance_raises_not_running():
    with pytest.raises(nexus.NotRunning) as e:
        nexus.open(f"nxt-py-none-{os.getpid()}")
    err = e.value
    assert err.code == nexus.ENOINST == -5 and err.name == "ENOINST"
    assert err.message == nexus.strerror(-5) == "instance not running"
    assert "not running" in err.detail and "ENOINST" in str(err)
    assert isinstance(err, nexus.Error) and isinstance(err, ConnectionError)


def test_unknown_pipeline(client):
    with pytest.raises(nexus.NoSuchPipeline) as e:
        client.pipeline_id("no-such-pipeline")
    assert e.value.code == nexus.ENOPIPE and "no-such-pipeline" in str(e.value)
    assert isinstance(e.value, LookupError)
    with pytest.raises(nexus.NoSuchPipeline):
        client.call("no-such-pipeline", b"x")
    with pytest.raises(nexus.NoSuchPipeline):  # an id nxd does not know: its answer
        client.call(65535, b"x")


def test_answer_too_large_and_payload_too_large(client):
    with pytest.raises(nexus.AnswerTooLarge, match="answered 10 bytes, over out_cap 4"):
        client.call("echo", b"0123456789", out_cap=4)
    with pytest.raises(nexus.AnswerTooLarge):
        client.call_into("echo", b"0123456789", bytearray(3))
    with pytest.raises(nexus.PayloadTooLarge) as e:
        client.call("echo", bytes(client.max_payload + 1))
    assert e.value.code == nexus.E2BIG and isinstance(e.value, ValueError)
    with pytest.raises(nexus.PayloadTooLarge):
        client.call("echo", b"x", out_cap=client.max_payload + 1)
    client.submit("echo", b"0123456789", out_cap=2)
    (comp,) = client.wait(timeout=BUDGET)
    assert comp.status == nexus.EOVERFLOW and isinstance(comp.error, nexus.AnswerTooLarge)


def test_every_code_has_a_class_name_and_message():
    for code in range(nexus._nexus.ERRNO_MIN, 0):
        cls = nexus.error_class(code)
        assert issubclass(cls, nexus.Error) and cls is not nexus.Error
        e = cls(code, "what failed")
        assert e.code == code and e.name == nexus.err_name(code) != "UNKNOWN"
        assert getattr(nexus, e.name) == code
        assert e.message == nexus.strerror(code) and e.message in str(e) and e.name in str(e)
        assert str(e).startswith("what failed")
    assert nexus.err_name(-1000) == "UNKNOWN" and nexus.strerror(2**80) == "unknown error"


def test_shutdown_raises_shutdown_error(own_nxd):
    d = own_nxd()
    c = nexus.open(d.instance)
    assert c.call("echo", b"x") == b"x"
    d.stop()
    end = time.monotonic() + BUDGET
    with pytest.raises(nexus.ShutdownError) as e:
        while time.monotonic() < end:
            c.call("echo", b"x", timeout=0.05)
    assert e.value.code == nexus.ESHUTDOWN
    c.close()


# ---- close ----

def test_context_manager_closes(nxd):
    with nexus.open(nxd.instance) as c:
        assert c.call("echo", b"x") == b"x"
    assert c.closed
    for use in (lambda: c.call("echo", b"x"), lambda: c.submit("echo", b"x"), c.poll,
                c.wait, lambda: c.pipeline_id("echo"), lambda: c.outstanding,
                lambda: c.capacity, lambda: c.generation, lambda: c.max_payload):
        with pytest.raises(nexus.ClosedError) as e:
            use()
        assert e.value.code == nexus.ECLOSED
    c.close()  # twice: harmless
    assert "closed" in repr(c)


def test_close_with_requests_in_flight_and_garbage(nxd):
    c = nexus.open(nxd.instance)
    buf = bytearray(16)
    for i in range(4):
        c.submit("echo", b"x", user_data=[i], out=buf if i == 0 else None)
    c.close()
    buf.extend(b"resizable again: the buffer was released")
    for _ in range(50):  # clients dropped without close free their channel
        nexus.open(nxd.instance).call("echo", b"x")
    gc.collect()
    with nexus.open(nxd.instance) as c2:
        assert c2.call("echo", b"after") == b"after"


# ---- the GIL is released while waiting ----

def _stop(proc):
    """SIGSTOP, and wait until every thread of proc is stopped (the signal
    is delivered asynchronously: a worker may still answer meanwhile)."""
    proc.send_signal(signal.SIGSTOP)
    end = time.monotonic() + BUDGET
    while time.monotonic() < end:
        states = []
        for t in os.listdir(f"/proc/{proc.pid}/task"):
            try:
                with open(f"/proc/{proc.pid}/task/{t}/stat") as f:
                    states.append(f.read().rsplit(")", 1)[1].split()[0])
            except FileNotFoundError:
                pass
        if states and all(st in "Tt" for st in states):
            return
        time.sleep(0.001)
    pytest.fail("nxd did not stop")


def _gil_released_while(nxd_proc, client, blocking_call, before=None):
    """Stop nxd, run blocking_call in a thread; while it waits in libnx,
    another thread runs Python and sees the client busy (refused, not let
    through). With the GIL held in libnx no other thread could run while
    the client is busy, so the refusal is the proof; then nxd answers."""
    result = {}
    refusals = []

    def waiter():
        try:
            result["value"] = blocking_call()
        except BaseException as e:  # reported by the main thread
            result["error"] = e

    _stop(nxd_proc)
    try:
        if before is not None:
            before()
        w = threading.Thread(target=waiter)
        w.start()
        end = time.monotonic() + BUDGET
        while not refusals and time.monotonic() < end and not result:
            try:
                client.poll()  # harmless before the waiter is in libnx: nxd is stopped
            except nexus.InvalidArgument as e:
                refusals.append(str(e))
                for use in (lambda: client.call("echo", b"x"), client.close):
                    with pytest.raises(nexus.InvalidArgument) as e:
                        use()
                    refusals.append(str(e.value))
            time.sleep(0.001)
        assert "value" not in result  # no answer can have come: nxd is stopped
    finally:
        nxd_proc.send_signal(signal.SIGCONT)
    w.join(BUDGET)
    assert refusals and all("another thread" in r for r in refusals), refusals
    assert "error" not in result, result.get("error")
    return result["value"]


def test_wait_releases_the_gil(own_nxd):
    d = own_nxd()
    with nexus.open(d.instance) as c:
        comps = _gil_released_while(d.proc, c, lambda: c.wait(timeout=BUDGET),
                                    before=lambda: c.submit("echo", b"gil", user_data=1))
        assert [(x.user_data, x.data) for x in comps] == [(1, b"gil")]


def test_call_releases_the_gil(own_nxd):
    d = own_nxd()
    with nexus.open(d.instance) as c:
        answer = _gil_released_while(d.proc, c, lambda: c.call("echo", b"gil", timeout=BUDGET))
        assert answer == b"gil"
        assert c.call("echo", b"after") == b"after"


# ---- hostile and careless input ----

@pytest.mark.parametrize("kwargs, exc", [
    (dict(pipeline=None), TypeError),
    (dict(pipeline=1.5), TypeError),
    (dict(pipeline=True), TypeError),
    (dict(pipeline=-1), nexus.InvalidArgument),
    (dict(pipeline=65536), nexus.InvalidArgument),
    (dict(pipeline=2**200), nexus.InvalidArgument),
    (dict(pipeline="ec\0ho"), nexus.InvalidArgument),
    (dict(payload="text"), TypeError),
    (dict(payload=None), TypeError),
    (dict(payload=12), TypeError),
    (dict(payload=memoryview(b"abcdef")[::2]), TypeError),
    (dict(out_cap=-1), nexus.InvalidArgument),
    (dict(out_cap=2**70), nexus.PayloadTooLarge),
    (dict(out_cap="8"), TypeError),
    (dict(out_cap=1.0), TypeError),
    (dict(timeout=-1), nexus.InvalidArgument),
    (dict(timeout=float("nan")), nexus.InvalidArgument),
    (dict(timeout="1"), TypeError),
    (dict(deadline=-0.5), nexus.InvalidArgument),
    (dict(deadline=float("nan")), nexus.InvalidArgument),
    (dict(deadline=[]), TypeError),
    (dict(retry=0), nexus.InvalidArgument),
    (dict(retry=-3), nexus.InvalidArgument),
    (dict(retry=10**6), nexus.InvalidArgument),
    (dict(retry=True), TypeError),
    (dict(retry=object()), TypeError),
    (dict(retry=nexus.Retry(attempts=0)), nexus.InvalidArgument),
    (dict(retry=nexus.Retry(base=-1)), nexus.InvalidArgument),
    (dict(retry=nexus.Retry(max_backoff="x")), TypeError),
    (dict(bogus=1), TypeError),
])
def test_call_refuses_bad_arguments_clearly(client, kwargs, exc):
    args = dict(pipeline="echo", payload=b"x")
    args.update(kwargs)
    with pytest.raises(exc):
        client.call(**args)
    assert client.outstanding == 0
    assert client.call("echo", b"ok") == b"ok"


def test_other_methods_refuse_bad_arguments(client):
    with pytest.raises(TypeError):
        client.call()
    with pytest.raises(TypeError):
        client.call("echo")
    with pytest.raises(TypeError):
        client.call("echo", b"x", 8)  # out_cap is keyword-only
    with pytest.raises(TypeError):
        client.call("echo", b"x", pipeline="echo")
    with pytest.raises(TypeError):
        client.call_into("echo", b"x", b"read-only")
    with pytest.raises(TypeError):
        client.pipeline_id(3)
    with pytest.raises(nexus.InvalidArgument):
        client.poll(0)
    with pytest.raises(nexus.InvalidArgument):
        client.poll(-1)
    with pytest.raises(TypeError):
        client.poll("3")
    with pytest.raises(nexus.InvalidArgument):
        client.wait(timeout=-1)
    with pytest.raises(TypeError):
        client.submit("echo", b"x", out=b"read-only")
    with pytest.raises(nexus.PayloadTooLarge):
        client.submit("echo", b"x", out_cap=2**40)
    assert client.poll(2**80) == []  # more than capacity: capped
    assert client.outstanding == 0


@pytest.mark.parametrize("kwargs, exc", [
    (dict(instance="bad/name"), nexus.InvalidArgument),
    (dict(instance=""), nexus.InvalidArgument),
    (dict(instance="x" * 10000), nexus.InvalidArgument),
    (dict(instance="a\0b"), nexus.InvalidArgument),
    (dict(instance=b"bytes"), TypeError),
    (dict(instance="ok", wait="fast"), nexus.InvalidArgument),
    (dict(instance="ok", wait=1), TypeError),
    (dict(instance="ok", timeout_ms=0), nexus.InvalidArgument),
    (dict(instance="ok", timeout_ms=-5), nexus.InvalidArgument),
    (dict(instance="ok", spin_us=10**9), nexus.InvalidArgument),
])
def test_open_refuses_bad_arguments(kwargs, exc):
    with pytest.raises(exc):
        nexus.open(**kwargs)


def test_init_twice_and_bare_client(nxd, client):
    with pytest.raises(nexus.InvalidArgument):
        client.__init__(nxd.instance)
    bare = nexus.Client.__new__(nexus.Client)
    with pytest.raises(nexus.ClosedError):
        bare.call("echo", b"x")
    bare.close()
    assert client.call("echo", b"x") == b"x"


def test_a_bytearray_sent_is_not_resizable_only_during_the_call(client):
    b = bytearray(b"grow")
    assert client.call("echo", b) == b"grow"
    b.extend(b" after")  # released after the call
    assert client.call("echo", b) == b"grow after"


def test_help_reads_well():
    import pydoc
    text = pydoc.render_doc(nexus.Client, renderer=pydoc.plaintext)
    for word in ("call(pipeline, payload", "submit_batch", "wait(max=None, timeout=1.0)",
                 "outstanding", "GIL"):
        assert word in text
    assert "Retry" in pydoc.render_doc(nexus, renderer=pydoc.plaintext)


def test_close_from_inside_a_method_is_refused_not_a_crash(client):
    """Python code can run in the middle of a method (here an exception
    class's __init__, while poll builds a completion's error): a close()
    from there would free the request table under the method. It is
    refused, and the client goes on."""
    refused = []
    orig = nexus.NoSuchPipeline.__init__

    def closing_init(self, *args, **kw):
        try:
            client.close()
        except nexus.InvalidArgument as e:
            refused.append(str(e))
        orig(self, *args, **kw)

    nexus.NoSuchPipeline.__init__ = closing_init
    try:
        client.submit(200, b"x", user_data=1)   # no pipeline 200
        client.submit(200, b"y", user_data=2)
        comps = []
        end = time.monotonic() + BUDGET
        while len(comps) < 2 and time.monotonic() < end:
            comps += client.wait(2 - len(comps), timeout=BUDGET)
    finally:
        nexus.NoSuchPipeline.__init__ = orig
    assert [c.user_data for c in comps] == [1, 2]
    assert all(isinstance(c.error, nexus.NoSuchPipeline) for c in comps)
    assert refused and all("in use" in r for r in refused), refused
    assert not client.closed
    assert client.call("echo", b"ok") == b"ok"


def test_a_client_held_only_by_its_own_requests_is_collected(nxd):
    """A request in flight holds its user_data; a user_data that holds the
    client makes a cycle, which the collector breaks by closing the client
    (else its channel would stay attached for ever)."""
    c = nexus.open(nxd.instance)
    c.submit("echo", b"x", user_data=c)
    r = weakref.ref(c)
    del c
    gc.collect()
    assert r() is None
