"""Every list call of the AWS modules pages to the end with the largest page its API takes: each call the
modules make through `paginate` (or an EC2 module's `describe`) that botocore pages by a limit member has a
page size, and that size is the member's maximum wherever botocore's model states one. moto ignores the
page size of some of these calls, so this is checked against the models themselves."""

from __future__ import annotations

import functools
import importlib
import re
from pathlib import Path
from typing import Any

import botocore.session
from reconcile_modules.aws.child_base import ChildModule
from reconcile_modules.aws.common import PAGE_SIZES
from reconcile_modules.aws.named_base import NamedModule

MODULES = Path(__file__).resolve().parents[2] / "modules" / "aws"
CLIENT = re.compile(r"""(\w+) = session\.client\("(\w+)"\)""")


def called() -> set[tuple[str, str]]:
    """(service, operation) of every paginated list call in the AWS modules."""
    out: set[tuple[str, str]] = set()
    for source in MODULES.glob("*.py"):
        text = source.read_text()
        clients = dict(CLIENT.findall(text))
        for based in based_modules(source.stem):  # a base's list call, and its hooks' `client`
            clients["client"] = based.service
            if hasattr(based, "listing"):  # the named loop's one list call
                out.add((based.service, based.listing[0]))
        for name, operation in re.findall(r"""paginate\(\s*(\w+(?:\.client\("\w+"\))?),\s*"(\w+)\"""", text):
            direct = re.match(r"""\w+\.client\("(\w+)"\)""", name)
            service = direct.group(1) if direct else clients.get(name)
            assert service, f"{source.name}: cannot tell the service of {name}.{operation}"
            out.add((service, operation))
        out |= {("ec2", op) for op in re.findall(r"""describe = \("(\w+)\"""", text)}
    return out


def based_modules(stem: str) -> list[type[Any]]:
    """The module classes a module file defines on the named or the child base (their hooks' `client` is
    the class's `service`)."""
    module = importlib.import_module(f"reconcile_modules.aws.{stem}")
    return [c for c in vars(module).values() if isinstance(c, type) and issubclass(c, (NamedModule, ChildModule))
            and c.__module__ == module.__name__ and hasattr(c, "service")]


@functools.cache
def operations(service: str) -> dict[str, str]:
    """method name -> API operation name, from the service's model."""
    model = botocore.session.get_session().get_service_model(service)
    return {botocore.xform_name(name): name for name in model.operation_names}


def model_of(service: str, operation: str) -> tuple[str | None, int | None]:
    """botocore's limit member of the operation's paginator, and its stated maximum."""
    session = botocore.session.get_session()
    model = session.get_service_model(service)
    name = operations(service)[operation]
    try:
        config = session.get_paginator_model(service).get_paginator(name)
    except ValueError:
        return None, None
    limit = config.get("limit_key")
    member = model.operation_model(name).input_shape.members.get(limit) if limit else None
    return limit, (member.metadata.get("max") if member is not None else None)


def test_every_paged_call_asks_for_the_largest_page_its_api_takes() -> None:
    calls = called()
    assert {("sqs", "list_queues"), ("ec2", "describe_vpcs"), ("logs", "describe_log_groups"),
            ("rds", "describe_db_parameters")} <= calls, calls
    for service, operation in sorted(calls | set(PAGE_SIZES)):
        limit, most = model_of(service, operation)
        if limit is None:
            assert (service, operation) not in PAGE_SIZES, f"{service}.{operation} takes no page size"
            continue
        assert (service, operation) in PAGE_SIZES, f"{service}.{operation} pages by {limit}: give its largest page"
        if most is not None:
            assert PAGE_SIZES[(service, operation)] == most, (service, operation, most)
