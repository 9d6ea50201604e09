"""An AWS session per region: the standard boto3 credential chain (env, shared files, `profile:`),
`endpoint_url` for S3-compatible stores and tests, botocore's adaptive retry mode. One client per
service per run; every API call is counted, mutating ones apart (a plan must make none)."""

from __future__ import annotations

import logging
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from reconciler.aws_errors import code_or_name, error_code, error_message, http_status
from reconciler.errors import ModuleError, ReconcileError
from reconciler.model import Spec

T = TypeVar("T")
R = TypeVar("R")
READ_PREFIXES = ("Describe", "List", "Get", "Head")
OWNER_TAG = "reconcile:address"
STACK_TAG = "reconcile:stack"  # the stack identity (spec name/workspace) of the run that created it

log = logging.getLogger(__name__)


class AwsSession:
    def __init__(self, region: str, settings: dict[str, Any], stack: str = ""):
        import boto3
        from botocore.config import Config

        self.name = region
        self.region = region
        self.stack = stack
        self.endpoint_url = settings.get("endpoint_url")
        try:
            import botocore.session

            from reconciler.targets.aws_models import caching_loader

            core = botocore.session.get_session()
            core.register_component("data_loader", caching_loader(core.get_config_variable("data_path")))
            self.session = boto3.session.Session(profile_name=settings.get("profile"), region_name=region,
                                                 botocore_session=core)
        except Exception as exc:
            raise ReconcileError(f"AWS session for {region}: {exc}") from exc
        self.config = Config(retries={"mode": "adaptive", "max_attempts": int(settings.get("max_attempts") or 8)},
                             connect_timeout=10, read_timeout=60)
        self.run_id = secrets.token_hex(6)  # part of idempotency tokens: the same create in this run is one object
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.readers = int(settings.get("read_parallelism") or 8)
        self.full_refresh = settings.get("refresh") == "full"  # read every object's settings (see `remembered`)
        self._pool: ThreadPoolExecutor | None = None
        self._lists: dict[str, Any] = {}  # memoised list calls, dropped by any mutating call
        self._list_lock = threading.Lock()  # guards _lists, _fetching and _generation
        self._fetching: dict[str, threading.Lock] = {}  # one per list: a list is fetched once, others in parallel
        self._generation = 0  # bumped when a mutating call drops the lists

    def client(self, service: str, *, once: bool = False) -> Any:
        """The service's client. `once`: without botocore's retries, for creates whose response may be lost:
        retrying those blindly makes a second object, so the module looks for the first one instead."""
        from botocore.config import Config

        key = f"{service}:once" if once else service
        with self._lock:
            if key not in self._clients:
                config = self.config.merge(Config(retries={"mode": "standard", "total_max_attempts": 1})) if once \
                    else self.config
                client = self.session.client(service, config=config, endpoint_url=self.endpoint_url)
                client.meta.events.register("before-call", self._count)
                self._clients[key] = client
            return self._clients[key]

    def _count(self, model: Any, **_: Any) -> None:
        log.debug("%s: AWS %s %s", self.region, model.service_model.service_name, model.name)
        with self._lock:
            self.calls[model.name] += 1
        if not model.name.startswith(READ_PREFIXES):
            with self._list_lock:
                self._lists.clear()
                self._generation += 1

    def listed(self, key: str, fetch: Callable[[], T]) -> T:
        """`fetch()` once per run while nothing changes: a service's list call (every queue, every topic)
        is shared by the observation waves a plan takes (a queue whose dead-letter queue it references is
        observed after it), so a plan makes one per type however the spec's references fall."""
        with self._list_lock:
            if key in self._lists:
                return self._lists[key]  # type: ignore[no-any-return]
            fetching = self._fetching.setdefault(key, threading.Lock())
        with fetching:  # the threads asking for the same list wait for one fetch; other lists go on
            with self._list_lock:
                if key in self._lists:
                    return self._lists[key]  # type: ignore[no-any-return]
                generation = self._generation
            value = fetch()
            with self._list_lock:
                if generation == self._generation:  # nothing changed while it was fetched
                    self._lists[key] = value
            return value

    @property
    def mutating_calls(self) -> dict[str, int]:
        return {name: n for name, n in self.calls.items() if not name.startswith(READ_PREFIXES)}

    def map(self, read: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """`read` over `items` on this region's one bounded pool of readers (for services with no batch
        read): however many observe workers ask at once, the region sees at most `readers` calls."""
        if len(items) <= 1:
            return [read(item) for item in items]
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.readers, thread_name_prefix=f"aws-{self.region}")
            pool = self._pool
        return list(pool.map(read, items))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        for client in self._clients.values():
            client.close()


THROTTLING = ("Throttling", "ThrottlingException", "RequestLimitExceeded", "SlowDown", "TooManyRequestsException",
              "RequestThrottled", "ProvisionedThroughputExceededException")


def uncertain(exc: BaseException) -> bool:
    """The request may or may not have been carried out: a 5xx answer, a timeout, a dropped connection."""
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import ReadTimeoutError

    if isinstance(exc, (BotoConnectionError, ReadTimeoutError, ConnectionError, TimeoutError)):
        return True
    return http_status(exc) >= 500 and error_code(exc) not in THROTTLING


def aws_error(exc: Exception) -> ModuleError:
    """`Code: message`, as the API said it; throttling is retryable (botocore already retried it)."""
    code = code_or_name(exc)
    return ModuleError(f"{code}: {error_message(exc)}", retryable=code in THROTTLING)


def aws_target(spec: Spec, region: str) -> AwsSession:
    return AwsSession(region, dict(spec.settings.get("aws") or {}), str(spec.stack))
