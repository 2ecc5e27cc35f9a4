"""The tree of refusals: one type per kind, each complete, documented where it is read."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from cds_service import errors
from cds_service.errors import (
    Busy,
    DatabaseUnavailable,
    InvalidRequest,
    PeerThrottled,
    RateLimited,
    ServiceError,
    Unauthenticated,
    UntrustedFhirServer,
    WrongHook,
)

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "docs" / "errors.md"


def _subtypes(base: type[ServiceError]) -> list[type[ServiceError]]:
    return [t for sub in base.__subclasses__() for t in (sub, *_subtypes(sub))]


#: The public types, in the order they are defined (the order of the tree).
TYPES = [
    t
    for t in vars(errors).values()
    if isinstance(t, type)
    and issubclass(t, ServiceError)
    and t is not ServiceError
    and not t.__name__.startswith("_")
]


def _instance(kind: type[ServiceError]) -> ServiceError:
    if issubclass(kind, RateLimited):
        return kind(5)
    if issubclass(kind, errors._RetryLater):
        return kind("Not now.", 30)
    return kind("a message")


@pytest.mark.parametrize("kind", TYPES, ids=lambda t: t.__name__)
def test_every_type_carries_an_answer(kind: type[ServiceError]) -> None:
    error = _instance(kind)
    assert 400 <= error.status < 600 and error.code and re.fullmatch(r"[a-z-]+", error.kind)
    assert error.operation_outcome()["issue"][0]["code"] == error.code
    assert error.operation_outcome()["issue"][0]["diagnostics"] == error.message


def test_every_refusal_type_is_in_the_tree() -> None:
    import cds_service.app.application
    import cds_service.cli  # noqa: F401 - every module that raises, loaded

    # (Tests may define their own; Radix's are all here.)
    modules = {t.__module__ for t in _subtypes(ServiceError)}
    assert {m for m in modules if m.startswith("cds_service")} == {errors.__name__}


def test_every_kind_is_one_type() -> None:
    kinds = [t.kind for t in TYPES]
    assert len(kinds) == len(set(kinds)), kinds


def test_the_headers_come_with_the_type() -> None:
    assert Unauthenticated("no").headers == {"WWW-Authenticate": "Bearer"}
    assert RateLimited(7).headers == {"Retry-After": "7"}
    assert PeerThrottled(2).headers == {"Retry-After": "2"} and PeerThrottled.status == 429
    assert DatabaseUnavailable("down", 30).headers == {"Retry-After": "30"}
    assert Busy("wait", 10).headers == {"Retry-After": "10"} and Busy.status == 503
    assert WrongHook("no").headers == {} and InvalidRequest("no").headers == {}


def test_a_special_case_is_caught_as_its_family() -> None:
    assert issubclass(PeerThrottled, RateLimited)
    assert issubclass(UntrustedFhirServer, InvalidRequest)
    untrusted = UntrustedFhirServer("its address is private")
    assert (untrusted.status, untrusted.code) == (400, "security")
    assert untrusted.message == "The fhirServer is not acceptable: its address is private."


def test_the_operation_outcome() -> None:
    assert RateLimited(3).operation_outcome() == {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "throttled",
                "diagnostics": "Too many requests from this client; retry after 3 s.",
            }
        ],
    }


def test_the_docstring_draws_the_tree() -> None:
    tree = (errors.__doc__ or "").split("::", 1)[1]
    drawn = re.findall(r"[├└]── (\w+)", tree)
    assert drawn == [t.__name__ for t in TYPES]
    for kind in TYPES:
        line = next(x for x in tree.splitlines() if re.search(rf"─ {kind.__name__}\b", x))
        assert kind.kind in line.split(), line
        if f" {kind.status} " in line:
            assert kind.code in line.split(), line


def test_the_document_lists_every_type_with_its_answer() -> None:
    rows = {}
    for line in DOCUMENT.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        name = re.search(r"`(\w+)`", cells[0]) if line.startswith("|") else None
        if name and name.group(1) in vars(errors):
            rows[name.group(1)] = cells
    assert list(rows) == [t.__name__ for t in TYPES]
    for kind in TYPES:
        _, status, code, label, headers, _ = rows[kind.__name__]
        assert (status, code, label) == (str(kind.status), f"`{kind.code}`", f"`{kind.kind}`")
        for header in _instance(kind).headers:
            assert header in headers, kind.__name__


def test_errors_imports_nothing_of_radix() -> None:
    tree = ast.parse(Path(errors.__file__).read_text(encoding="utf-8"))
    modules = [
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    assert not [m for m in modules if m and m.startswith("cds_service")]
