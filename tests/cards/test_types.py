"""The declared shapes are what Radix sends: every key rendered is declared, every required one
is there, and each value has its declared type, down to the actions' resources."""

from __future__ import annotations

import typing
from typing import Any, Literal

import pytest

from cds_service.cards import render
from cds_service.cards.response import with_legacy_system_actions
from cds_service.cards.types import Card, CdsResponse
from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.evaluation import Evaluation
from tests.cards.factory import (
    assessment,
    draft_mri,
    draft_physiotherapy,
    evaluation,
    rating,
    request,
)

DISPOSITIONS = ["emergency-referral", "urgent-imaging", "mri", "specialist-review", "physiotherapy"]


def _problems(value: Any, shape: Any, where: str) -> list[str]:
    """Where ``value`` departs from the type ``shape`` (a TypedDict, list, Literal or class)."""
    if typing.is_typeddict(shape):
        if not isinstance(value, dict):
            return [f"{where}: not an object"]
        hints = typing.get_type_hints(shape)
        missing = shape.__required_keys__ - value.keys()
        unknown = value.keys() - hints.keys()
        out = [f"{where}: missing {sorted(missing)}"] if missing else []
        out += [f"{where}: undeclared {sorted(unknown)}"] if unknown else []
        for key in sorted(value.keys() & hints.keys()):
            out += _problems(value[key], hints[key], f"{where}.{key}")
        return out
    origin = typing.get_origin(shape)
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: not a list"]
        (item,) = typing.get_args(shape)
        return [p for n, v in enumerate(value) for p in _problems(v, item, f"{where}[{n}]")]
    if origin is Literal:
        return [] if value in typing.get_args(shape) else [f"{where}: {value!r} not allowed"]
    expected = origin or shape
    return [] if isinstance(value, expected) else [f"{where}: not a {expected.__name__}"]


def _bodies() -> list[dict[str, Any]]:
    config = ClinicalConfig()
    mri, physio = draft_mri(), draft_physiotherapy()
    stat = Evaluation(
        assessment("emergency-referral"),
        order_ratings=(rating(mri, "appropriate", upgrade_to_stat=True),),
    )
    swap = Evaluation(assessment("physiotherapy"), order_ratings=(rating(mri),))
    flags = Evaluation(
        assessment("urgent-imaging"), physiotherapy_orders=("ServiceRequest/draft-pt",)
    )
    orders = request("order-sign", drafts=(mri, physio))
    bodies = [render(evaluation(d), request(), config) for d in DISPOSITIONS]
    bodies += [render(ev, orders, config) for ev in (stat, swap, flags)]
    return [*bodies, *(with_legacy_system_actions(b) for b in bodies)]


@pytest.mark.parametrize("body", _bodies(), ids=lambda b: str(len(b["cards"])))
def test_every_response_fits_the_declared_shapes(body: dict[str, Any]) -> None:
    assert _problems(body, CdsResponse, "body") == []


def test_the_check_sees_a_misspelt_or_missing_key() -> None:
    body = render(evaluation("mri"), request(), ClinicalConfig())
    card = body["cards"][0]
    card["selectionBehaviour"] = card.pop("selectionBehavior")
    del card["suggestions"][0]["label"]
    assert _problems(body, CdsResponse, "body") == [
        "body.cards[0]: undeclared ['selectionBehaviour']",
        "body.cards[0].suggestions[0]: missing ['label']",
    ]


def test_the_responses_checked_use_every_kind_of_action_and_card_field() -> None:
    bodies = _bodies()
    cards = [c for b in bodies for c in b["cards"]]
    actions = [a for c in cards for s in c.get("suggestions", []) for a in s.get("actions", [])]
    assert {a["type"] for a in actions} == {"create", "update", "delete"}
    assert set().union(*cards) == set(typing.get_type_hints(Card))
    assert any("extension" in b for b in bodies) and any("systemActions" in b for b in bodies)
