"""A request schema checked in microseconds, with jsonschema's error when a check fails.

jsonschema resolves every ``$ref`` and sets up a validator for each sub-schema on every call
(≈0.2 ms for a hook request, most of the parse). Here each schema is compiled once, at start-up,
into plain closures that answer only "valid or not" and touch only what the schema constrains.
A request they accept is valid; for one they refuse, jsonschema itself finds the error, so the
message and location a client reads are exactly jsonschema's, and its verdict is final.

A keyword the compiler does not implement fails the compile (and so the start-up): a schema is
never checked in part. tests/protocol/test_schema_check.py holds the closures to jsonschema's
verdicts on random schemas and documents.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry
from referencing.jsonschema import DRAFT202012

if TYPE_CHECKING:
    from referencing._core import Resolver  # what Registry.resolver returns; not re-exported

Check = Callable[[Any], bool]

#: Keywords that only annotate: jsonschema asserts none of them (``format`` neither: the
#: validators are built without a format checker).
_ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$defs",
        "$comment",
        "title",
        "description",
        "examples",
        "default",
        "format",
        "deprecated",
        "readOnly",
        "writeOnly",
    }
)


@dataclass(frozen=True)
class SchemaValidator:
    """One schema, as compiled closures (the verdict) and a jsonschema validator (the error)."""

    full: Draft202012Validator
    quick: Check

    @classmethod
    def compile(cls, schema: Mapping[str, Any], registry: Registry) -> SchemaValidator:
        Draft202012Validator.check_schema(schema)
        full = Draft202012Validator(schema, registry=registry)
        return cls(full, compile_check(schema, registry))

    def is_valid(self, doc: Any) -> bool:
        return self.quick(doc) or self.full.is_valid(doc)

    def iter_errors(self, doc: Any) -> Iterator[ValidationError]:
        return iter(()) if self.quick(doc) else self.full.iter_errors(doc)

    def best_error(self, doc: Any) -> ValidationError | None:
        """jsonschema's best error for ``doc``, or None; jsonschema runs only if doc looks bad."""
        return None if self.quick(doc) else best_match(self.full.iter_errors(doc))


def compile_check(schema: Any, registry: Registry | None = None) -> Check:
    """The closure that says whether a document is valid against ``schema``.

    ``$ref`` resolves as jsonschema resolves it: ``schema`` is the root (under its ``$id``, if
    any) of ``registry``, which holds the other schemas it refers to.
    """
    root = DRAFT202012.create_resource(schema)
    resolver = (registry or Registry()).resolver_with_root(root)
    return _Compiler().compile(schema, resolver)


class _Compiler:
    """Compiles one schema; ``$ref`` targets are compiled once each, cycles included."""

    def __init__(self) -> None:
        self._targets: dict[int, list[Check]] = {}

    def compile(self, schema: Any, resolver: Resolver) -> Check:
        if schema is True:
            return _always
        if schema is False:
            return _never
        if not isinstance(schema, Mapping):
            raise ValueError(f"not a schema: {schema!r:.80}")
        resolver = resolver.in_subresource(DRAFT202012.create_resource(schema))
        checks: list[Check] = []
        for keyword, value in schema.items():
            if keyword in _ANNOTATIONS or keyword in _HANDLED_BY_OTHERS:
                continue
            build = _KEYWORDS.get(keyword)
            if build is None:
                raise NotImplementedError(f"JSON Schema keyword {keyword!r} is not compiled")
            checks.append(build(self, value, schema, resolver))
        return _all_of(checks)

    def reference(self, ref: str, resolver: Resolver) -> Check:
        resolved = resolver.lookup(ref)
        key = id(resolved.contents)
        cell = self._targets.get(key)
        if cell is None:
            cell = self._targets[key] = []
            cell.append(self.compile(resolved.contents, resolved.resolver))
        # Read the cell at call time: a schema that refers to itself is still being compiled.
        return lambda instance: cell[0](instance)


def _always(instance: Any) -> bool:
    return True


def _never(instance: Any) -> bool:
    return False


def _all_of(checks: Sequence[Check]) -> Check:
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    fixed = tuple(checks)

    def every(instance: Any) -> bool:
        # A loop, not all(generator): this runs for every sub-schema of every request.
        for check in fixed:  # noqa: SIM110
            if not check(instance):
                return False
        return True

    return every


# --- types and equality: exactly jsonschema's (draft 2020-12 type checker, _utils.equal) ----


def _is_integer(instance: Any) -> bool:
    if isinstance(instance, bool):
        return False
    return isinstance(instance, int) or (isinstance(instance, float) and instance.is_integer())


def _is_number(instance: Any) -> bool:
    return isinstance(instance, numbers.Number) and not isinstance(instance, bool)


_TYPES: dict[str, Check] = {
    "array": lambda instance: isinstance(instance, list),
    "boolean": lambda instance: isinstance(instance, bool),
    "integer": _is_integer,
    "null": lambda instance: instance is None,
    "number": _is_number,
    "object": lambda instance: isinstance(instance, dict),
    "string": lambda instance: isinstance(instance, str),
}


def _equal(one: Any, two: Any) -> bool:
    """JSON equality: ``True`` is not ``1``, at any depth (jsonschema's ``equal``)."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, Sequence) and isinstance(two, Sequence):
        return len(one) == len(two) and all(_equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return len(one) == len(two) and all(
            key in two and _equal(value, two[key]) for key, value in one.items()
        )
    return bool(_unbool(one) == _unbool(two))


_TRUE, _FALSE = object(), object()


def _unbool(value: Any) -> Any:
    if value is True:
        return _TRUE
    if value is False:
        return _FALSE
    return value


# --- keywords: each builds one check from its value ------------------------------------------

Builder = Callable[[_Compiler, Any, Mapping[str, Any], "Resolver[Any]"], Check]


def _type(compiler: _Compiler, value: Any, schema: Mapping[str, Any], resolver: Resolver) -> Check:
    names = [value] if isinstance(value, str) else list(value)
    if names == ["object"]:
        return lambda instance: isinstance(instance, dict)
    if names == ["string"]:
        return lambda instance: isinstance(instance, str)
    tests = tuple(_TYPES[name] for name in names)
    return lambda instance: any(test(instance) for test in tests)


def _properties(compiler: _Compiler, value: Any, schema: Any, resolver: Resolver) -> Check:
    members = tuple((name, compiler.compile(sub, resolver)) for name, sub in value.items())

    def properties(instance: Any) -> bool:
        if isinstance(instance, dict):
            for name, check in members:
                if name in instance and not check(instance[name]):
                    return False
        return True

    return properties


def _additional_properties(
    compiler: _Compiler, value: Any, schema: Mapping[str, Any], resolver: Resolver
) -> Check:
    if "patternProperties" in schema:
        raise NotImplementedError("JSON Schema keyword 'patternProperties' is not compiled")
    named = frozenset(schema.get("properties", {}))
    if value is True:
        return _always
    if value is False:
        return lambda instance: not isinstance(instance, dict) or instance.keys() <= named
    check = compiler.compile(value, resolver)

    def additional(instance: Any) -> bool:
        if isinstance(instance, dict):
            for name, member in instance.items():
                if name not in named and not check(member):
                    return False
        return True

    return additional


def _required(compiler: _Compiler, value: Any, schema: Any, resolver: Resolver) -> Check:
    names = tuple(value)
    return lambda instance: not isinstance(instance, dict) or all(n in instance for n in names)


def _dependent_required(compiler: _Compiler, value: Any, schema: Any, resolver: Resolver) -> Check:
    rules = tuple((name, tuple(needed)) for name, needed in value.items())

    def dependent(instance: Any) -> bool:
        if isinstance(instance, dict):
            for name, needed in rules:
                if name in instance and not all(n in instance for n in needed):
                    return False
        return True

    return dependent


def _max_properties(compiler: _Compiler, value: Any, schema: Any, resolver: Resolver) -> Check:
    return lambda instance: not isinstance(instance, dict) or len(instance) <= value


def _min_properties(compiler: _Compiler, value: Any, schema: Any, resolver: Resolver) -> Check:
    return lambda instance: not isinstance(instance, dict) or len(instance) >= value


def _items(compiler: _Compiler, value: Any, schema: Mapping[str, Any], resolver: Resolver) -> Check:
    if "prefixItems" in schema:
        raise NotImplementedError("JSON Schema keyword 'prefixItems' is not compiled")
    check = compiler.compile(value, resolver)
    return lambda instance: not isinstance(instance, list) or all(map(check, instance))


def _min_items(compiler: _Compiler, value: Any, schema: Any, resolver: Resolver) -> Check:
    return lambda instance: not isinstance(instance, list) or len(instance) >= value


def _max_items(compiler: _Compiler, value: Any, schema: Any, resolver: Resolver) -> Check:
    return lambda instance: not isinstance(instance, list) or len(instance) <= value


def _min_length(compiler: _Compiler, value: Any, schema: Any, resolver: Resolver) -> Check:
    return lambda instance: not isinstance(instance, str) or len(instance) >= value


def _max_length(compiler: _Compiler, value: Any, schema: Any, resolver: Resolver) -> Check:
    return lambda instance: not isinstance(instance, str) or len(instance) <= value


def _pattern(compiler: _Compiler, value: Any, schema: Any, resolver: Resolver) -> Check:
    search = re.compile(value).search  # jsonschema: re.search, unanchored
    return lambda instance: not isinstance(instance, str) or search(instance) is not None


def _const(compiler: _Compiler, value: Any, schema: Any, resolver: Resolver) -> Check:
    return lambda instance: _equal(instance, value)


def _enum(compiler: _Compiler, value: Any, schema: Any, resolver: Resolver) -> Check:
    options = tuple(value)
    return lambda instance: any(_equal(option, instance) for option in options)


def _minimum(compiler: _Compiler, value: Any, schema: Any, resolver: Resolver) -> Check:
    return lambda instance: not _is_number(instance) or not instance < value


def _maximum(compiler: _Compiler, value: Any, schema: Any, resolver: Resolver) -> Check:
    return lambda instance: not _is_number(instance) or not instance > value


def _all_of_keyword(compiler: _Compiler, value: Any, schema: Any, resolver: Resolver) -> Check:
    return _all_of([compiler.compile(sub, resolver) for sub in value])


def _any_of(compiler: _Compiler, value: Any, schema: Any, resolver: Resolver) -> Check:
    checks = tuple(compiler.compile(sub, resolver) for sub in value)
    return lambda instance: any(check(instance) for check in checks)


def _not(compiler: _Compiler, value: Any, schema: Any, resolver: Resolver) -> Check:
    check = compiler.compile(value, resolver)
    return lambda instance: not check(instance)


def _if(compiler: _Compiler, value: Any, schema: Mapping[str, Any], resolver: Resolver) -> Check:
    condition = compiler.compile(value, resolver)
    then = compiler.compile(schema.get("then", True), resolver)
    otherwise = compiler.compile(schema.get("else", True), resolver)
    return lambda instance: then(instance) if condition(instance) else otherwise(instance)


def _ref(compiler: _Compiler, value: Any, schema: Any, resolver: Resolver) -> Check:
    return compiler.reference(value, resolver)


_KEYWORDS: dict[str, Builder] = {
    "type": _type,
    "properties": _properties,
    "additionalProperties": _additional_properties,
    "required": _required,
    "dependentRequired": _dependent_required,
    "maxProperties": _max_properties,
    "minProperties": _min_properties,
    "items": _items,
    "minItems": _min_items,
    "maxItems": _max_items,
    "minLength": _min_length,
    "maxLength": _max_length,
    "pattern": _pattern,
    "const": _const,
    "enum": _enum,
    "minimum": _minimum,
    "maximum": _maximum,
    "allOf": _all_of_keyword,
    "anyOf": _any_of,
    "not": _not,
    "if": _if,
    "$ref": _ref,
}
#: Read by the keyword they belong to (``if``); alone, jsonschema ignores them too.
_HANDLED_BY_OTHERS = frozenset({"then", "else"})
