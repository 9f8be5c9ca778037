"""nexus: the Python client of a nexus instance (libnx, through a C extension).

    import nexus

    with nexus.open("demo") as c:
        echo = c.pipeline_id("echo")
        answer = c.call(echo, b"hello")            # bytes

        for i in range(100):                       # many in flight
            c.submit(echo, b"ping %d" % i, user_data=i)
        while c.outstanding:
            for comp in c.wait(timeout=1.0):
                if comp.error:
                    raise comp.error
                print(comp.user_data, comp.data)

Every error is a nexus.Error subclass carrying nexus's code (.code, a
negative NX_E* number, and .name, "ETIMEDOUT"), what the code means
(.message, nx_strerror) and what failed (.detail).
"""

from . import _nexus
from ._nexus import (  # noqa: F401  (re-exported)
    ABI_VERSION,
    INLINE_MAX,
    Client,
    Completion,
    err_name,
    err_retryable,
    now_ns,
    strerror,
)

__all__ = [
    "open", "Client", "Completion", "Retry", "strerror", "err_name", "err_retryable", "now_ns",
    "Error", "InvalidArgument", "Timeout", "DeadlineExpired", "NotRunning", "ShutdownError",
    "Restarted", "ClosedError", "Overloaded", "RateLimited", "BreakerOpen", "QuotaExceeded",
    "StageError", "NoSuchPipeline", "PayloadTooLarge", "AnswerTooLarge", "PermissionDenied",
    "ProtocolError", "InstanceBusy", "OutOfMemory", "INLINE_MAX", "ABI_VERSION",
]

# the NX_E* codes: nexus.ETIMEDOUT == -4 ...
CODES = {name: getattr(_nexus, name) for name in dir(_nexus)
         if name.startswith("E") and name[1:].isupper() and isinstance(getattr(_nexus, name), int)}
globals().update(CODES)
__all__ += sorted(CODES)


class Error(Exception):
    """A nexus error. code: the negative NX_E* number; name: its name
    ("ETIMEDOUT"); message: what the code means (nx_strerror); detail: what
    failed, with libnx's own message when it gave one (nx_errmsg)."""

    def __init__(self, code: int, detail: str = "") -> None:
        self.code = code
        self.name = err_name(code)
        self.message = strerror(code)
        self.detail = detail or ""
        super().__init__(code, self.detail)

    def __str__(self) -> str:
        text = self.detail
        if not text:
            text = self.message
        elif self.message not in text:
            text = f"{text}: {self.message}"
        return f"{text} ({self.name})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code}, {self.detail!r})"

    def __reduce__(self):
        return (type(self), (self.code, self.detail))

    def retryable(self, idempotent: bool = False) -> bool:
        """Whether the error may go away by itself (nx_err_retryable): True
        for refusals before the request ran, and, when idempotent, for
        failures after it may have run."""
        return err_retryable(self.code, idempotent)


class InvalidArgument(Error, ValueError):
    """EINVAL: an argument nexus refuses, or a client used from the wrong state."""


class Timeout(Error, TimeoutError):
    """ETIMEDOUT: no answer within the timeout (the request may still run)."""


class DeadlineExpired(Timeout):
    """EEXPIRED: the request's deadline passed before nxd started it."""


class NotRunning(Error, ConnectionError):
    """ENOINST: no nxd serves the instance."""


class ShutdownError(Error, ConnectionError):
    """ESHUTDOWN: nxd stopped for good; the request was not answered."""


class Restarted(Error, ConnectionError):
    """ERESTARTED: nxd restarted before answering (the request may have run)."""


class ClosedError(Error):
    """ECLOSED: the client is closed."""


class Overloaded(Error):
    """EAGAIN, ENOSPC: no room now (window or ring full, no free channel); try later."""


class RateLimited(Overloaded):
    """ERATELIMIT: refused by the channel's rate limit before it ran."""


class BreakerOpen(Overloaded):
    """EBREAKER: refused by an open circuit breaker before it ran."""


class QuotaExceeded(Error):
    """EQUOTA: over a quota of channels or connections for this uid or process."""


class StageError(Error):
    """ESTAGE, EFAULT, EQUARANTINE, EOVERBUDGET: a stage failed, faulted, is
    quarantined or overran its time budget."""


class NoSuchPipeline(Error, LookupError):
    """ENOPIPE, ENOENT: no pipeline (or object) of that name or id."""


class PayloadTooLarge(Error, ValueError):
    """E2BIG: a payload or out_cap over the channel's max_payload."""


class AnswerTooLarge(PayloadTooLarge):
    """EOVERFLOW: the answer is larger than out_cap or the out buffer."""


class PermissionDenied(Error, PermissionError):
    """EPERM: nxd refused this uid."""


class ProtocolError(Error):
    """EABI, EPROTO, EBADDESC, EIO: client and nxd do not understand each
    other, or a system call failed."""


class InstanceBusy(Error):
    """EBUSY: the instance is already served by another nxd."""


class OutOfMemory(Error, MemoryError):
    """ENOMEM."""


_CLASSES = {
    _nexus.EINVAL: InvalidArgument, _nexus.ENOMEM: OutOfMemory, _nexus.EAGAIN: Overloaded,
    _nexus.ETIMEDOUT: Timeout, _nexus.ENOINST: NotRunning, _nexus.EABI: ProtocolError,
    _nexus.EPERM: PermissionDenied, _nexus.EBUSY: InstanceBusy, _nexus.ENOPIPE: NoSuchPipeline,
    _nexus.EBADDESC: ProtocolError, _nexus.E2BIG: PayloadTooLarge, _nexus.ERESTARTED: Restarted,
    _nexus.ECLOSED: ClosedError, _nexus.EPROTO: ProtocolError, _nexus.EIO: ProtocolError,
    _nexus.ENOSPC: Overloaded, _nexus.EOVERFLOW: AnswerTooLarge, _nexus.ESTAGE: StageError,
    _nexus.EEXPIRED: DeadlineExpired, _nexus.ERATELIMIT: RateLimited,
    _nexus.EBREAKER: BreakerOpen, _nexus.EFAULT: StageError, _nexus.ENOENT: NoSuchPipeline,
    _nexus.ESHUTDOWN: ShutdownError, _nexus.EQUARANTINE: StageError,
    _nexus.EOVERBUDGET: StageError, _nexus.EQUOTA: QuotaExceeded,
}
_nexus._set_errors(Error, _CLASSES)


def error_class(code: int) -> type:
    """The exception class nexus raises for an NX_E* code."""
    return _CLASSES.get(code, Error)


class Retry:
    """A retry policy for Client.call (nx_call_retry): an error that may go
    away by itself is tried again after an exponential backoff with full
    jitter, at most `attempts` times in all and never past the call's
    deadline.

    attempts     tries in all (3)
    idempotent   the request may run twice: also retry errors after which
                 it may have run (Restarted, StageError, Timeout)
    base         the first backoff's ceiling, in seconds (50 us)
    max_backoff  no backoff longer than this, in seconds (50 ms)
    """

    __slots__ = ("attempts", "idempotent", "base", "max_backoff")

    def __init__(self, attempts: int = 3, idempotent: bool = False,
                 base: float = 50e-6, max_backoff: float = 0.05) -> None:
        self.attempts = attempts
        self.idempotent = idempotent
        self.base = base
        self.max_backoff = max_backoff

    def __repr__(self) -> str:
        return (f"Retry(attempts={self.attempts!r}, idempotent={self.idempotent!r}, "
                f"base={self.base!r}, max_backoff={self.max_backoff!r})")


def open(instance: str, wait: str = "sleep", timeout_ms: int = 5000,  # noqa: A001
         spin_us: int = 20) -> Client:
    """Attach to a running nxd instance and open a channel (nx_open).

    instance    the name nxd was started with
    wait        'sleep' (default): spin spin_us microseconds, then sleep on a
                futex until nxd answers; 'spin': busy-poll, lowest latency,
                one CPU kept busy while waiting
    timeout_ms  how long to wait for nxd's reply

    Returns a Client, usable as a context manager (closed on exit). Raises
    NotRunning when no nxd serves the instance, PermissionDenied, ...
    """
    return Client(instance, wait=wait, timeout_ms=timeout_ms, spin_us=spin_us)
