"""Templates rendered and each entry checked against its type's schema, with messages that point at the key."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

from reconciler.diagnostics import Diagnostic, JsonPath, SourceDocument
from reconciler.inventory import Host
from reconciler.model import SENSITIVE
from reconciler.schema_files import ONE_LINE
from reconciler.spec.build_state import BuildState, is_placeholder
from reconciler.spec.json_validator import validator_for
from reconciler.spec.refs import has_reference
from reconciler.spec.render import TemplateFailure
from reconciler.spec.templates import LoadContext, TemplateFileError


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with its local `#/$defs/NAME` references replaced by what they name (recursive ones
    are left as references): jsonschema resolves a reference on every use, which dominated validating
    10,000 resources."""
    defs = schema.get("$defs") or {}

    def walk(node: Any, trail: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [walk(v, trail) for v in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and "/" not in ref[8:]:
            name = ref[8:]
            if name in defs and name not in trail:
                rest = walk({k: v for k, v in node.items() if k != "$ref"}, trail)
                target = walk(defs[name], trail + (name,))
                if set(rest) <= {"description", "title", "default", "examples"}:
                    return {**rest, **target}  # errors quote the definition's own description, as before
                return {"allOf": [target], **rest}  # keywords beside a reference apply too
        return {k: (v if k == "$defs" else walk(v, trail)) for k, v in node.items()}

    return dict(walk(schema, ()))


def schema_diagnostics(
    validator: Draft202012Validator, value: Any, doc: SourceDocument, prefix: JsonPath,
    secret: frozenset[str] = frozenset(), references: bool = True,
) -> list[Diagnostic]:
    """Schema errors at their source; the value of a secret attribute is never quoted in a message.
    `references`: a `${…}` value is left for plan time (False where no reference may stand, as in the
    keys every resource shares)."""
    out = []
    for error in sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path))):
        error = _most_relevant(error)
        if references and isinstance(error.instance, str) and (has_reference(error.instance)
                                                               or is_placeholder(error.instance)):
            continue  # a `${…}` value is checked once it is resolved, at plan time
        path = prefix + tuple(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            schema = error.schema if isinstance(error.schema, Mapping) else {}
            extra = sorted(k for k in error.instance if k not in (schema.get("properties") or {}))
            for key in extra:  # each unknown key at its own line
                out.append(Diagnostic(f"unknown field {key!r}" + _closest_field(key, schema),
                                      doc.locate(path + (key,)), path + (key,)))
            continue
        message = _schema_message(error)
        if error.absolute_path and str(error.absolute_path[0]) in secret:
            message = message.replace(repr(error.instance), SENSITIVE).replace(str(error.instance), SENSITIVE)
        out.append(Diagnostic(message, doc.locate(path), path))
    return out


def _most_relevant(error: ValidationError) -> ValidationError:
    """For "not valid under any of the given schemas" (oneOf/anyOf), the error of the alternative whose type
    fits the value: `inventory: {hosts: …}` is wrong because of a host's port, not for not being a string."""
    while error.validator in ("oneOf", "anyOf") and error.context:
        fitting = [e for e in error.context if e.validator != "type" or e.relative_schema_path[0] != "type"]
        deeper = [e for e in fitting if e.absolute_path != error.absolute_path or e.validator not in ("type",)]
        if not deeper:
            break
        error = max(deeper, key=lambda e: (len(e.absolute_path), -len(e.relative_schema_path)))
    return error


def _closest_field(key: str, schema: Mapping[str, Any]) -> str:

    close = difflib.get_close_matches(key, list(schema.get("properties") or {}), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _schema_message(error: ValidationError) -> str:
    if error.validator == "additionalProperties":
        return error.message.replace("Additional properties are not allowed", "unknown field(s)")
    if error.validator == "required":
        return f"missing required field: {error.message.split(' ')[0]}"
    if error.validator == "not" and isinstance(error.validator_value, dict) and "required" in error.validator_value:
        return "only one of " + " and ".join(error.validator_value["required"]) + " may be given"
    if error.validator == "not" and isinstance(error.validator_value, dict) and \
            error.validator_value.get("description") == ONE_LINE:
        return (f"{error.instance!r} must be one line: a line break (\\n, \\r, U+2028, U+2029, U+0085) or a NUL "
                "would add a line of its own to the file it is written in")
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator == "type" and schema.get("description"):
        return f"{error.message}: {schema['description']}"
    if error.validator == "pattern" and str(error.validator_value).startswith("^/") and isinstance(error.instance, str) \
            and not error.instance.startswith("/"):
        return f"must be an absolute path, not {error.instance!r}"
    if error.validator == "pattern" and schema.get("description"):
        return f"{error.instance!r} is not valid: {schema['description']}"
    return error.message


class SchemaChecks(BuildState):
    """Templates rendered and each entry checked against its type's schema, with messages that point at the key."""

    def _render(
        self, type_name: str, attributes: dict[str, Any], path: JsonPath, host: Host | None, target: str,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        context = {**self._context(host, target), **(extra or {})}
        out: dict[str, Any] = {}
        ok = True
        for key, value in attributes.items():
            try:
                out[key] = self.renderer.render(value, context)
            except TemplateFailure as exc:
                ok = False
                self._error(f"template error in {key}: {self._explain(exc)}", path + (key,))
                continue
            if "\\u0000" in json.dumps(out[key], default=str):  # a NUL made by a template (JSON escapes it)
                ok = False
                self._error(f"{key} renders to a value with a NUL character", path + (key,))
        if ok:
            out = {k: self._as_written(v, self.registry.schema(type_name).get("properties", {}).get(k), path + (k,))
                   for k, v in out.items()}
            module = self.registry.module(type_name)
            where = self.doc.locate(path)
            load = LoadContext(self.template_files, self.renderer, context,
                               Path(where.file).parent if where else Path(self.doc.base_dir))
            try:
                out = module.prepare(out, load)
            except TemplateFileError as exc:
                ok = False
                culprit = exc.attribute if exc.attribute in out else next(
                    (k for k in ("template", "src") if k in out), None)  # the value it names, or the file
                self._error(str(exc), path + ((culprit,) if culprit else ()))
        return out if ok else None

    def _as_written(self, value: Any, schema: Any, path: JsonPath) -> Any:
        """A YAML scalar that became a number or boolean where the type wants text becomes the text written
        (`version: 1.10` is "1.10", `DEBUG: true` is "true"), as docker compose reads environment values."""
        if not isinstance(schema, dict):
            return value
        if isinstance(value, (bool, int, float)) and schema.get("type") == "string":
            return self.doc.texts.get(path) or (str(value).lower() if isinstance(value, bool) else str(value))
        if isinstance(value, dict):
            props, extra = schema.get("properties") or {}, schema.get("additionalProperties")
            return {k: self._as_written(v, props.get(k, extra), path + (k,)) for k, v in value.items()}
        if isinstance(value, list) and isinstance(schema.get("items"), dict):
            return [self._as_written(v, schema["items"], path + (i,)) for i, v in enumerate(value)]
        return value

    def _check_schema(
        self, type_name: str, attributes: dict[str, Any], path: JsonPath, written: dict[str, Any]
    ) -> bool:
        # the entry as written, with its attributes rendered (not what a template file produced)
        checked = {k: (attributes[k] if k in attributes else v) for k, v in written.items()}
        if self.registry.quick_check(type_name, checked):  # valid: no need to ask jsonschema where it is not
            return True
        validator = self.validators.get(type_name)
        if validator is None:
            validator = validator_for(inline_refs(self.registry.resource_schema(type_name)))
            self.validators[type_name] = validator
        listed = written.get("sensitive")
        secret = self.registry.module_class(type_name).sensitive | frozenset(
            s for s in (listed if isinstance(listed, list) else []) if isinstance(s, str))
        found = schema_diagnostics(validator, checked, self.doc, path, secret)
        self.diagnostics += found
        return not found
