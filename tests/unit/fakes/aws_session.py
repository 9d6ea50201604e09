"""What an AWS module asks of its session, for unit tests of the AWS bases with an in-memory service: one
client (the service itself), list calls fetched as asked, readers run in turn."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


class FakeAwsSession:
    def __init__(self, service: Any, stack: str = "prod") -> None:
        self.service, self.stack, self.region, self.run_id, self.full_refresh = service, stack, "us-east-1", "r", False

    def client(self, name: str, once: bool = False) -> Any:
        return self.service

    def listed(self, key: str, fetch: Callable[[], Any]) -> Any:
        return fetch()

    def map(self, read: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        return [read(i) for i in items]
