"""Reading a Terraform state: `terraform show -json` output (format_version 1.x) or a terraform.tfstate
file (version 4), into the managed resource instances it holds.

Both formats are checked for their version, and every part this reads is checked for its shape: a
state of the wrong shape is an error at its file:line:col (found by reading the text again as YAML, a
superset of JSON that keeps positions), never an internal error."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from reconciler.errors import ReconcileError

MAX_DEPTH = 64  # nested modules
MAX_BYTES = 512 * 1024 * 1024  # a state larger than this is not read
SHOW_MAJOR = "1"  # terraform show -json: format_version 1.x
TFSTATE_VERSION = 4  # terraform.tfstate: Terraform 0.12 and later

Path_ = tuple[str | int, ...]  # a JSON path into the document


@dataclass(frozen=True)
class TfResource:
    address: str  # Terraform's: module.net.aws_vpc.main["a"]
    type: str
    name: str
    index: Any  # count index or for_each key, None for a single instance
    module: str  # "module.net" or ""
    values: Mapping[str, Any]
    dependencies: tuple[str, ...] = ()
    sensitive: tuple[Path_, ...] = ()  # paths into `values` that Terraform marks sensitive
    where: Path_ = ()  # the JSON path of `values` in the document (for errors at file:line)


class MalformedEntry(ReconcileError):
    """A resource's values of a shape its type does not expect; `path` is where, in the document."""

    def __init__(self, path: Path_, message: str):
        super().__init__(message)
        self.path = path


class _Shape(Exception):
    def __init__(self, path: Path_, message: str):
        super().__init__(message)
        self.path = path


def at_line(path: Path, error: MalformedEntry) -> ReconcileError:
    """A malformed resource entry as an error at its file:line:col."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = ""
    line, col = locate(text, error.path) if text else (1, 1)
    return ReconcileError(f"{path}:{line}:{col}: {error}")


def read_state(path: Path) -> list[TfResource]:
    """The managed resource instances of a Terraform state file or `terraform show -json` output."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ReconcileError(f"{path}: larger than {MAX_BYTES // 2 ** 20} MB; not read")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReconcileError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReconcileError(f"{path}:{exc.lineno}:{exc.colno}: not JSON ({exc.msg}); give a terraform.tfstate "
                             "file or the output of `terraform show -json`") from None
    except RecursionError:
        raise ReconcileError(f"{path}:1:1: nested too deeply to be a Terraform state") from None
    try:
        return _read(document)
    except _Shape as exc:
        line, col = locate(text, exc.path)
        raise ReconcileError(f"{path}:{line}:{col}: {exc}") from None


def _read(document: Any) -> list[TfResource]:
    if not isinstance(document, dict):
        raise _Shape((), "not a Terraform state (a JSON object is expected)")
    if "format_version" in document:
        version = document["format_version"]
        if not isinstance(version, str) or version.split(".")[0] != SHOW_MAJOR:
            raise _Shape(("format_version",), f"`terraform show -json` format_version {version!r} is not supported "
                                              f"({SHOW_MAJOR}.x is, written by Terraform 0.12 and later)")
        values = document.get("values")
        if values is None:
            return []  # an empty state
        return _from_show_json(_mapping(values, ("values",)))
    version = document.get("version")
    if version is None:
        raise _Shape((), "not a Terraform state: it has neither `version` (terraform.tfstate) nor `format_version` "
                         "(terraform show -json)")
    if version != TFSTATE_VERSION:
        raise _Shape(("version",), f"Terraform state format version {version!r} is not supported (version 4 is, "
                                   "written by Terraform 0.12 and later): run `terraform show -json > state.json` "
                                   "with a current Terraform and migrate that")
    return _from_tfstate(document)


def _mapping(value: Any, path: Path_) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _Shape(path, f"{'.'.join(map(str, path)) or 'the document'} must be an object, not "
                           f"{type(value).__name__}")
    return value


def _items(value: Any, path: Path_) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Shape(path, f"{'.'.join(map(str, path))} must be a list, not {type(value).__name__}")
    return value


def _text(holder: Mapping[str, Any], key: str, path: Path_) -> str:
    value = holder.get(key)
    if not isinstance(value, str) or not value:
        raise _Shape(path + (key,), f"{'.'.join(map(str, path + (key,)))} must be a non-empty string")
    return value


def _from_show_json(values: Mapping[str, Any]) -> list[TfResource]:
    out: list[TfResource] = []

    def walk(module: Any, path: Path_, prefix: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise _Shape(path, f"modules nested more than {MAX_DEPTH} deep")
        module = _mapping(module, path)
        for i, r in enumerate(_items(module.get("resources"), path + ("resources",))):
            where = path + ("resources", i)
            r = _mapping(r, where)
            if r.get("mode") != "managed":
                continue
            attributes = _mapping(r.get("values") or {}, where + ("values",))
            marks = r.get("sensitive_values") or {}
            out.append(TfResource(_text(r, "address", where), _text(r, "type", where), _text(r, "name", where),
                                  r.get("index"), prefix, attributes,
                                  tuple(str(d) for d in _items(r.get("depends_on"), where + ("depends_on",))),
                                  tuple(marked_paths(marks)), where + ("values",)))
        for i, child in enumerate(_items(module.get("child_modules"), path + ("child_modules",))):
            where = path + ("child_modules", i)
            walk(child, where, str(_mapping(child, where).get("address") or prefix), depth + 1)

    walk(values.get("root_module") or {}, ("values", "root_module"), "", 0)
    return out


def _from_tfstate(document: Mapping[str, Any]) -> list[TfResource]:
    out: list[TfResource] = []
    for i, r in enumerate(_items(document.get("resources"), ("resources",))):
        where: Path_ = ("resources", i)
        r = _mapping(r, where)
        if r.get("mode") != "managed":
            continue
        module = str(r.get("module") or "")
        type_, name = _text(r, "type", where), _text(r, "name", where)
        for j, instance in enumerate(_items(r.get("instances"), where + ("instances",))):
            at = where + ("instances", j)
            instance = _mapping(instance, at)
            index = instance.get("index_key")
            if index is not None and not isinstance(index, (str, int)):
                raise _Shape(at + ("index_key",), "index_key must be a string or a number")
            base = f"{module + '.' if module else ''}{type_}.{name}"
            address = base + (f"[{json.dumps(index)}]" if index is not None else "")
            attributes = _mapping(instance.get("attributes") or {}, at + ("attributes",))
            out.append(TfResource(address, type_, name, index, module, attributes,
                                  tuple(str(d) for d in _items(instance.get("dependencies"), at + ("dependencies",))),
                                  tuple(_cty_paths(instance.get("sensitive_attributes"))), at + ("attributes",)))
    return out


def marked_paths(marks: Any, prefix: Path_ = ()) -> list[Path_]:
    """`sensitive_values` of `terraform show -json` (the values' shape, `true` where sensitive) as paths."""
    if marks is True:
        return [prefix]
    if isinstance(marks, dict):
        return [p for k, v in marks.items() for p in marked_paths(v, prefix + (str(k),))]
    if isinstance(marks, list):
        return [p for i, v in enumerate(marks) for p in marked_paths(v, prefix + (i,))]
    return []


def _cty_paths(paths: Any) -> list[Path_]:
    """terraform.tfstate's `sensitive_attributes`: lists of steps ({"type": "get_attr", "value": "password"},
    {"type": "index", "value": {"value": 0, "type": "number"}})."""
    out: list[Path_] = []
    for steps in paths if isinstance(paths, list) else []:
        path: list[str | int] = []
        for step in steps if isinstance(steps, list) else []:
            if not isinstance(step, dict):
                continue
            value = step.get("value")
            if isinstance(value, dict):
                value = value.get("value")
            if isinstance(value, (str, int)) and not isinstance(value, bool):
                path.append(value)
        if path:
            out.append(tuple(path))
    return out


def locate(text: str, path: Path_) -> tuple[int, int]:
    """Line and column (1-based) of the value at `path` in a JSON text; the nearest part found, else 1:1."""
    try:
        node: Any = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return 1, 1
    best = node
    for step in path:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if getattr(k, "value", None) == step), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            node = node.value[step]
        else:
            node = None
        if node is None:
            break
        best = node
    if best is None:
        return 1, 1
    return best.start_mark.line + 1, best.start_mark.column + 1
