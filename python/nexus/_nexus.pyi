"""Type hints of nexus._nexus, the C half of the nexus package."""

from typing import Any, Iterable, Optional, Sequence, Tuple, Union

Buffer = Union[bytes, bytearray, memoryview]
Pipeline = Union[int, str]

ABI_VERSION: int
INLINE_MAX: int
ERRNO_MIN: int
EINVAL: int
ENOMEM: int
EAGAIN: int
ETIMEDOUT: int
ENOINST: int
EABI: int
EPERM: int
EBUSY: int
ENOPIPE: int
EBADDESC: int
E2BIG: int
ERESTARTED: int
ECLOSED: int
EPROTO: int
EIO: int
ENOSPC: int
EOVERFLOW: int
ESTAGE: int
EEXPIRED: int
ERATELIMIT: int
EBREAKER: int
EFAULT: int
ENOENT: int
ESHUTDOWN: int
EQUARANTINE: int
EOVERBUDGET: int
EQUOTA: int

class Completion(Tuple[Any, int, Optional[Union[bytes, memoryview]], bool, Optional[BaseException]]):
    """The outcome of one submitted request: (user_data, status, data, degraded, error)."""
    @property
    def user_data(self) -> Any: ...
    @property
    def status(self) -> int: ...
    @property
    def data(self) -> Optional[Union[bytes, memoryview]]: ...
    @property
    def degraded(self) -> bool: ...
    @property
    def error(self) -> Optional[BaseException]: ...

class Client:
    """A client of one nxd instance (its own channel). Use nexus.open()."""
    def __init__(self, instance: str, *, wait: str = ..., timeout_ms: int = ...,
                 spin_us: int = ...) -> None: ...
    def call(self, pipeline: Pipeline, payload: Buffer, *, out_cap: Optional[int] = ...,
             timeout: Optional[float] = ..., deadline: Optional[float] = ...,
             retry: Any = ..., idempotent: bool = ...) -> bytes: ...
    def call_into(self, pipeline: Pipeline, payload: Buffer, out: Union[bytearray, memoryview], *,
                  timeout: Optional[float] = ..., deadline: Optional[float] = ...,
                  retry: Any = ..., idempotent: bool = ...) -> int: ...
    def submit(self, pipeline: Pipeline, payload: Buffer, *, user_data: Any = ...,
               out: Optional[Union[bytearray, memoryview]] = ..., out_cap: Optional[int] = ...,
               deadline: Optional[float] = ..., idempotent: bool = ...) -> None: ...
    def submit_batch(self, requests: Union[Sequence[Tuple[Pipeline, Buffer]],
                                           Sequence[Tuple[Pipeline, Buffer, Any]],
                                           Iterable[tuple]], *,
                     out_cap: Optional[int] = ..., deadline: Optional[float] = ...,
                     idempotent: bool = ...) -> int: ...
    def poll(self, max: Optional[int] = ...) -> list[Completion]: ...
    def wait(self, max: Optional[int] = ..., timeout: Optional[float] = ...) -> list[Completion]: ...
    def pipeline_id(self, name: str) -> int: ...
    def close(self) -> None: ...
    def __enter__(self) -> "Client": ...
    def __exit__(self, *exc: Any) -> bool: ...
    @property
    def outstanding(self) -> int: ...
    @property
    def capacity(self) -> int: ...
    @property
    def max_payload(self) -> int: ...
    @property
    def generation(self) -> int: ...
    @property
    def closed(self) -> bool: ...
    @property
    def instance(self) -> Optional[str]: ...

def strerror(code: int) -> str: ...
def err_name(code: int) -> str: ...
def err_retryable(code: int, idempotent: bool = ...) -> bool: ...
def now_ns() -> int: ...
def _set_errors(base: type, classes: dict[int, type]) -> None: ...
