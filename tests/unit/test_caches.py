"""The per-machine caches of start-up work: compiled schema validators and parsed botocore models. Both
give what the uncached path gives, and fall back to it when the cache is unusable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.schema_cache import compiled


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "reconcile"


SCHEMA = {"type": "object", "properties": {"port": {"type": "integer", "maximum": 65535}}, "required": ["port"]}


def test_a_compiled_validator_is_cached_and_behaves_the_same(cache_home: Path) -> None:
    import fastjsonschema

    first = compiled(SCHEMA)
    assert len(list((cache_home / "schemas").iterdir())) == 1
    second = compiled(SCHEMA)  # from the cache
    assert second({"port": 22}) == {"port": 22}
    for check in (first, second):
        with pytest.raises(fastjsonschema.JsonSchemaValueException):
            check({"port": 70000})
    next((cache_home / "schemas").iterdir()).write_bytes(b"not marshal data")  # a damaged cache file
    with pytest.raises(fastjsonschema.JsonSchemaValueException):
        compiled(SCHEMA)({})


def test_botocore_models_read_through_the_cache_are_the_same(cache_home: Path) -> None:
    from botocore.loaders import Loader

    from reconciler.targets.aws_models import caching_loader

    plain = Loader().load_service_model("sqs", "service-2")
    cached_loader = caching_loader(None)
    first = cached_loader.load_service_model("sqs", "service-2")
    again = caching_loader(None).load_service_model("sqs", "service-2")  # a new process would do this
    assert json.dumps(first, sort_keys=True) == json.dumps(plain, sort_keys=True) == json.dumps(again, sort_keys=True)
    assert list(again["operations"]) == list(plain["operations"])  # the order is kept
    assert any((cache_home / "botocore").iterdir())


def test_an_unwritable_cache_only_costs_the_parse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # a file where the directory would go
    assert compiled(SCHEMA)({"port": 1}) == {"port": 1}
    from reconciler.targets.aws_models import caching_loader

    assert "operations" in caching_loader(None).load_service_model("sns", "service-2")
