"""The shapes of a CDS Hooks 2.0.1 service response, as Radix writes them.

``TypedDict``s: at run time a card is the plain dict it always was (nothing to convert or copy
on the hot path, and the JSON is exactly what the builders wrote); to the type checker every key
is declared, so a misspelt ``"selectionBehavior"`` or a missing ``"summary"`` is an error.

Only the fields Radix sends are declared. Optional ones are ``NotRequired``: Radix omits an
empty field rather than sending ``null`` or ``[]`` (cds-resp rules). Nothing here imports
from the rest of the package: this module is the bottom of the cards stage.
"""

# No ``from __future__ import annotations`` here: string annotations would hide ``NotRequired``
# from ``__required_keys__`` at run time (Python 3.11), and the tests read those.
from typing import Any, Literal, NotRequired, TypedDict

Indicator = Literal["info", "warning", "critical"]
SelectionBehavior = Literal["at-most-one", "any"]
ActionType = Literal["create", "update", "delete"]
LinkType = Literal["absolute", "smart"]

#: A FHIR resource as JSON (the ServiceRequests that actions create or update).
Resource = dict[str, Any]
#: The ``org.radix-cds.assessment`` object, as ``Assessment.to_extension()`` writes it.
AssessmentJson = dict[str, Any]


class Coding(TypedDict):
    """A FHIR Coding: a card's topic, an override reason."""

    system: str
    code: str
    display: str


class Source(TypedDict):
    label: str
    url: str
    topic: Coding


class Action(TypedDict):
    """``create`` and ``update`` carry ``resource``; ``delete`` carries ``resourceId``."""

    type: ActionType
    description: str
    resource: NotRequired[Resource]
    resourceId: NotRequired[str]


class Suggestion(TypedDict):
    label: str
    uuid: str
    isRecommended: NotRequired[bool]
    actions: NotRequired[list[Action]]


class Link(TypedDict):
    label: str
    url: str
    type: LinkType


#: A card's ``extension``: the assessment behind it (the key is not an identifier).
CardExtension = TypedDict("CardExtension", {"org.radix-cds.assessment": AssessmentJson})


class CardOptions(TypedDict, total=False):
    """A card's optional fields; Radix leaves out each one that would be empty."""

    detail: str
    suggestions: list[Suggestion]
    selectionBehavior: SelectionBehavior
    overrideReasons: list[Coding]
    links: list[Link]


class Card(CardOptions):
    uuid: str
    summary: str
    indicator: Indicator
    source: Source
    extension: CardExtension


class ResponseExtension(TypedDict, total=False):
    #: A copy of the top-level ``systemActions`` for clients of CDS Hooks 1.x habits.
    systemActions: list[Action]


class CdsResponse(TypedDict):
    """The body of a hook call's answer: the cards, and the order ratings as system actions."""

    cards: list[Card]
    systemActions: NotRequired[list[Action]]
    extension: NotRequired[ResponseExtension]
