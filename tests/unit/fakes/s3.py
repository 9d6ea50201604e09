"""An in-memory S3 with the few calls the state store makes, answering as S3 does: ETags, conditional
writes (If-Match / If-None-Match), bucket versioning, paginated listing and botocore's ClientError codes.
For unit tests of reconciler.state.s3; the end-to-end tests use moto's server over HTTP instead."""

from __future__ import annotations

import datetime
import hashlib
import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError


def refusal(code: str, operation: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} (fake S3)"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, operation)


@dataclass
class Version:
    body: bytes
    etag: str
    version_id: str
    at: datetime.datetime


@dataclass
class FakeS3:
    buckets: set[str] = field(default_factory=lambda: {"state"})
    versioned: bool = True
    objects: dict[tuple[str, str], list[Version]] = field(default_factory=dict)  # newest last
    calls: list[str] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # operation -> error code it answers with
    _ids: Iterator[int] = field(default_factory=itertools.count)

    def _check(self, operation: str, bucket: str) -> None:
        self.calls.append(operation)
        if operation in self.refuse:
            raise refusal(self.refuse[operation], operation, 403)
        if bucket not in self.buckets:
            raise refusal("NoSuchBucket", operation, 404)

    def _current(self, bucket: str, key: str) -> Version | None:
        versions = self.objects.get((bucket, key))
        return versions[-1] if versions else None

    def get_object(self, *, Bucket: str, Key: str, VersionId: str | None = None) -> dict[str, Any]:
        self._check("GetObject", Bucket)
        versions = self.objects.get((Bucket, Key)) or []
        found = [v for v in versions if v.version_id == VersionId] if VersionId else versions[-1:]
        if not found:
            raise refusal("NoSuchKey", "GetObject", 404)
        return {"Body": io.BytesIO(found[0].body), "ETag": found[0].etag, "VersionId": found[0].version_id}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, IfMatch: str | None = None,
                   IfNoneMatch: str | None = None, **_: Any) -> dict[str, Any]:
        self._check("PutObject", Bucket)
        current = self._current(Bucket, Key)
        if IfNoneMatch == "*" and current is not None:
            raise refusal("PreconditionFailed", "PutObject", 412)
        if IfMatch is not None and (current is None or current.etag != IfMatch):
            raise refusal("PreconditionFailed", "PutObject", 412)
        version = Version(Body, f'"{hashlib.md5(Body + str(next(self._ids)).encode()).hexdigest()}"',
                          f"v{next(self._ids)}" if self.versioned else "null",
                          datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
                          + datetime.timedelta(seconds=next(self._ids)))
        history = self.objects.setdefault((Bucket, Key), [])
        if not self.versioned:
            history.clear()
        history.append(version)
        return {"ETag": version.etag, "VersionId": version.version_id}

    def delete_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        self._check("DeleteObject", Bucket)
        self.objects.pop((Bucket, Key), None)
        return {}

    def list_object_versions(self, *, Bucket: str, Prefix: str) -> dict[str, Any]:
        self._check("ListObjectVersions", Bucket)
        out = []
        for (bucket, key), versions in sorted(self.objects.items()):
            if bucket == Bucket and key.startswith(Prefix):
                out += [{"Key": key, "VersionId": v.version_id, "LastModified": v.at, "Size": len(v.body),
                         "IsLatest": v is versions[-1]} for v in versions]
        return {"Versions": out}

    def get_paginator(self, name: str) -> FakePaginator:
        assert name == "list_objects_v2", name
        return FakePaginator(self)

    def keys(self, prefix: str = "") -> list[str]:
        return sorted(k for (_, k), v in self.objects.items() if v and k.startswith(prefix))


@dataclass
class FakePaginator:
    s3: FakeS3
    page_size: int = 2  # small, so that every listing is seen to follow pages

    def paginate(self, *, Bucket: str, Prefix: str) -> Iterator[dict[str, Any]]:
        self.s3._check("ListObjectsV2", Bucket)
        keys = self.s3.keys(Prefix)
        for start in range(0, max(len(keys), 1), self.page_size):
            page = keys[start:start + self.page_size]
            yield {"Contents": [{"Key": k} for k in page]} if page else {}
