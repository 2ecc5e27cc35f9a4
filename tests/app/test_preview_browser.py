"""The preview page in a real browser (Debian's chromium under Playwright), against the real app.

For every shipped example the page must show what the engine answers to the same request: the
indicator, the summary, the detail's text and structure, the suggestion buttons and the order
ratings; the picture must shade the localised root. A screenshot of each is kept as a test
artefact (in ``RADIX_TEST_ARTIFACTS`` when set, else the test's temporary folder).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from cds_service.app import create_app
from cds_service.settings import Settings
from tests.browser import chromium, wait_for_answer
from tests.examples import EXAMPLES, engine_answer
from tests.live_server import serve
from tests.readme_examples import rating_of

_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")


@pytest.fixture
def artefacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("RADIX_TEST_ARTIFACTS") or tmp_path / "artefacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _plain(markdown: str) -> str:
    """The text a reader sees of the cards' markdown, whitespace removed (layout differs)."""
    lines = [re.sub(r"^\s*- ", "", line) for line in markdown.split("\n")]
    out, text, i = [], "\n".join(lines), 0
    while i < len(text):
        escaped = _ESCAPED.match(text, i)
        if escaped:
            out.append(escaped[1])
            i = escaped.end()
        elif text.startswith("**", i):
            i += 2
        elif text[i] == "`":
            i += 1
        else:
            out.append(text[i])
            i += 1
    return re.sub(r"\s+", "", "".join(out))


def _markup(markdown: str) -> dict[str, int]:
    """How many bullets, bold spans and code spans the markdown holds."""
    unescaped = _ESCAPED.sub("", markdown)
    return {
        "li": len(re.findall(r"^\s*- ", markdown, re.MULTILINE)),
        "strong": unescaped.count("**") // 2,
        "code": unescaped.count("`") // 2,
    }


async def _shown_cards(page: Any) -> list[dict[str, Any]]:
    return await page.eval_on_selector_all(
        "article.card",
        """cards => cards.map(card => ({
            indicator: card.getAttribute("data-indicator"),
            summary: card.querySelector(".card-summary").textContent,
            detail: (card.querySelector(".card-detail") || {innerText: ""}).innerText,
            li: card.querySelectorAll(".card-detail li").length,
            strong: card.querySelectorAll(".card-detail strong").length,
            code: card.querySelectorAll(".card-detail code").length,
            buttons: [...card.querySelectorAll(".suggestion-button")].map(b => b.textContent),
            actions: [...card.querySelectorAll(".actions-list li")].map(a => a.textContent),
        }))""",
    )


async def _shown_ratings(page: Any) -> dict[str, str]:
    rows = await page.eval_on_selector_all(
        "tr.rating-row",
        "rows => rows.map(r => [r.getAttribute('data-reference'), r.getAttribute('data-rating')])",
    )
    return dict(rows)


def _expected_ratings(response: dict[str, Any]) -> dict[str, str | None]:
    return {
        f"{a['resource']['resourceType']}/{a['resource']['id']}": rating_of(a["resource"])
        for a in response.get("systemActions", [])
    }


async def _check_matches_engine(page: Any, request: dict[str, Any]) -> dict[str, Any]:
    expected = await engine_answer(request)
    response = expected["response"]
    shown = await _shown_cards(page)
    assert [c["indicator"] for c in shown] == [c["indicator"] for c in response["cards"]]
    for card, want in zip(shown, response["cards"], strict=True):
        assert card["summary"] == want["summary"]
        assert re.sub(r"\s+", "", card["detail"]) == _plain(want["detail"])
        assert {k: card[k] for k in ("li", "strong", "code")} == _markup(want["detail"])
        assert card["buttons"] == [s["label"] for s in want.get("suggestions", [])]
        actions = [a for s in want.get("suggestions", []) for a in s.get("actions", [])]
        assert len(card["actions"]) == len(actions)
        for text, action in zip(card["actions"], actions, strict=True):
            assert text.lower().startswith(action["type"])
            resource = action.get("resource")
            if resource is not None:
                assert resource["resourceType"] in text
                assert resource["code"]["coding"][0]["display"] in text
                assert f"priority {resource['priority']}" in text
            else:
                assert action["resourceId"] in text
    assert await _shown_ratings(page) == _expected_ratings(response)
    if not response["cards"]:
        assert await page.is_visible("#no-cards")
    return expected


async def _shaded(page: Any) -> list[tuple[str, str, str, str]]:
    return [
        tuple(row)
        for row in await page.eval_on_selector_all(
            "#limbs .dermatome[data-shade]",
            """regions => regions.map(r => [
                r.dataset.root, r.dataset.side, r.dataset.view, r.dataset.shade])""",
        )
    ]


async def test_every_example_renders_as_the_engine_answers(tmp_path: Path, artefacts: Path):
    app = create_app(Settings(data_dir=tmp_path, auth_required=False, log_level="WARNING"))
    problems: list[str] = []
    async with serve(app) as base_url, chromium() as browser:
        page = await browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
        await page.goto(f"{base_url}/")
        await wait_for_answer(page, 1)  # the first example is evaluated on arrival
        answers = 1
        for example_id, request in EXAMPLES.items():
            if await page.input_value("#example") != example_id:
                await page.select_option("#example", example_id)
                answers += 1
                await wait_for_answer(page, answers)
            assert json.loads(await page.input_value("#request")) == request
            expected = await _check_matches_engine(page, request)
            await page.screenshot(path=artefacts / f"preview-{example_id}.png", full_page=True)

            # The picture shows the assessment: the localised root on its side, front and back.
            localisation = expected["assessment"].get("localisation")
            primary = {r[:3] for r in await _shaded(page) if r[3] == "primary"}
            if localisation:
                sides = (
                    ["left", "right"]
                    if localisation["side"] == "bilateral"
                    else [localisation["side"]]
                )
                assert primary == {
                    (localisation["root"], side, view)
                    for side in sides
                    for view in ("front", "back")
                }
            else:
                assert primary == set()
            flags = {f["id"] for f in expected["assessment"].get("redFlags", [])}
            present = await page.eval_on_selector_all(
                "#red-flags li[data-status=present]", "items => items.map(i => i.dataset.item)"
            )
            assert set(present) == flags

            if example_id == "patient-view-cauda-equina":
                assert [c["indicator"] for c in await _shown_cards(page)] == ["critical"]
                assert await page.get_attribute("#saddle", "class") == "saddle flagged"
                statuses = dict(
                    await page.eval_on_selector_all(
                        "#ces-screen li",
                        "items => items.map(i => [i.dataset.item, i.dataset.status])",
                    )
                )
                assert statuses["urinary-retention"] == "present"
                assert statuses["saddle-anaesthesia"] == "present"
                assert statuses["sexual-dysfunction"] == "unknown"
            if example_id == "patient-view-l5-left":
                assert ("L5", "left", "front") in primary and (
                    "L5",
                    "right",
                    "front",
                ) not in primary
                implicated = await page.eval_on_selector_all(
                    "#limbs .muscle.implicated",
                    "m => m.map(x => [x.dataset.muscle, x.dataset.side])",
                )
                assert sorted(implicated) == sorted(
                    [
                        [m, "left"]
                        for m in (
                            "ankle-dorsiflexion",
                            "ankle-eversion",
                            "great-toe-extension",
                            "hip-abduction",
                            "ankle-inversion",
                        )
                    ]
                )

        # A pasted Bundle of one patient's resources becomes a patient-view request.
        example = EXAMPLES["patient-view-cauda-equina"]
        resources = [example["prefetch"]["patient"]]
        for key, value in example["prefetch"].items():
            if key != "patient" and value:
                resources += [e["resource"] for e in value.get("entry", [])]
        bundle = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": r} for r in resources],
        }
        await page.select_option("#example", "")
        await page.fill("#request", json.dumps(bundle))
        await page.click("#evaluate")
        answers += 1
        await wait_for_answer(page, answers)
        notices = await page.inner_text("#notices")
        assert "patient-view request for Patient/ex-ces-pat" in notices
        built = json.loads(await page.text_content("#evaluated-json") or "{}")
        assert built["hook"] == "patient-view"
        await _check_matches_engine(page, built)
        assert [c["indicator"] for c in await _shown_cards(page)] == ["critical"]
        await page.screenshot(path=artefacts / "preview-bundle.png", full_page=True)

        # An error is an OperationOutcome, shown readably, and clears the previous answer.
        assert problems == []  # so far, none at all
        await page.fill("#request", '{"hook": "patient-view", "hookInstance": "x"}')
        await page.click("#evaluate")
        answers += 1
        await wait_for_answer(page, answers)
        assert await page.is_visible("#error")
        error = await page.inner_text("#error")
        assert "400" in error and "context" in error
        assert await _shown_cards(page) == []
        await page.screenshot(path=artefacts / "preview-error.png", full_page=True)
        # The browser itself logs every 4xx it fetched; that one line is expected, nothing else.
        assert problems == [
            "Failed to load resource: the server responded with a status of 400 (Bad Request)"
        ]
        problems.clear()

        # Clicking a suggestion only says what an EHR would do: nothing is sent.
        await page.select_option("#example", "order-select-mri-acute-sciatica")
        answers += 1
        await wait_for_answer(page, answers)
        await page.click(".suggestion-button")
        assert "sends nothing" in await page.inner_text(".suggestion-state")
    assert problems == []
    assert sorted(p.name for p in artefacts.glob("*.png")) == sorted(
        [f"preview-{i}.png" for i in EXAMPLES] + ["preview-bundle.png", "preview-error.png"]
    )


async def test_markup_in_pasted_data_stays_text(tmp_path: Path):
    """HTML and markdown written into the record are shown as typed, never interpreted."""
    request = json.loads(json.dumps(EXAMPLES["patient-view-cauda-equina"]))
    hostile = '<img src=x onerror="document.body.dataset.pwned=1">**bold** [link](http://x)'
    condition = request["prefetch"]["conditions"]["entry"][1]["resource"]  # the retention
    condition["code"]["text"] = hostile
    condition["code"]["coding"][0]["display"] = hostile
    app = create_app(Settings(data_dir=tmp_path, auth_required=False, log_level="WARNING"))
    async with serve(app) as base_url, chromium() as browser:
        page = await browser.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("request", lambda r: problems.append(r.url) if "/x" in r.url else None)
        await page.goto(f"{base_url}/")
        await wait_for_answer(page, 1)
        await page.select_option("#example", "")
        await page.fill("#request", json.dumps(request))
        await page.click("#evaluate")
        await wait_for_answer(page, 2)
        detail = await page.inner_text(".card-detail")
        assert await page.get_attribute("body", "data-pwned") is None
        assert await page.query_selector(".card-detail img") is None
        assert await page.query_selector(".card-detail a") is None
        await _check_matches_engine(page, request)
        assert hostile in detail  # exactly as typed, markup and all
    assert problems == []


async def test_the_page_reads_the_assessment_and_rating_shapes_that_are_coming(tmp_path: Path):
    """cesScreen gains present/absent/unknown, and pama-rating moves to .../Extension/: both read.

    The engine does not send these shapes yet, so they are handed to the page's own renderers.
    """
    app = create_app(Settings(data_dir=tmp_path, auth_required=False, log_level="WARNING"))
    async with serve(app) as base_url, chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{base_url}/")
        await wait_for_answer(page, 1)
        await page.evaluate(
            """() => renderPicture({
                disposition: "emergency-referral",
                redFlags: [{id: "cauda-equina", tier: "emergency", rules: []}],
                localisation: {root: "S1", side: "bilateral", confidence: 0.7,
                               candidates: [{root: "L5", side: "left", score: 0.5}]},
                cesScreen: {present: ["saddle-anaesthesia"], absent: ["anal-tone"],
                            unknown: ["faecal-incontinence"],
                            documented: ["saddle-anaesthesia", "anal-tone"]},
            })"""
        )
        statuses = dict(
            await page.eval_on_selector_all(
                "#ces-screen li", "items => items.map(i => [i.dataset.item, i.dataset.status])"
            )
        )
        assert statuses["saddle-anaesthesia"] == "present"
        assert statuses["anal-tone"] == "absent"
        assert statuses["faecal-incontinence"] == "unknown"
        assert statuses["urinary-retention"] == "unknown"  # not mentioned: never negative
        shaded = {(r[0], r[1], r[2]): r[3] for r in await _shaded(page)}
        for side in ("left", "right"):
            assert shaded[("S1", side, "front")] == "primary"
        assert shaded[("L5", "left", "back")] == "candidate"
        assert ("L5", "right", "back") not in shaded
        opacity = await page.get_attribute(
            '#limbs .dermatome[data-root="L5"][data-side="left"][data-view="front"]', "fill-opacity"
        )
        assert opacity is not None and abs(float(opacity) - 0.85 * 0.5) < 1e-3

        # The rating is read from the extension whose URL ends with /pama-rating, whichever base.
        await page.evaluate(
            """() => renderRatings([
                {type: "update", description: "new URL", resource: {
                    resourceType: "ServiceRequest", id: "a", extension: [
                        {url: "http://fhir.org/argonaut/Extension/pama-rating-consult-id",
                         valueUri: "urn:uuid:1"},
                        {url: "http://fhir.org/argonaut/Extension/pama-rating",
                         valueCodeableConcept: {coding: [{code: "not-appropriate"}]}}]}},
                {type: "update", description: "old URL", resource: {
                    resourceType: "ServiceRequest", id: "b", extension: [
                        {url: "http://fhir.org/argonaut/StructureDefinition/pama-rating",
                         valueCodeableConcept: {coding: [{code: "appropriate"}]}}]}},
            ])"""
        )
        assert await _shown_ratings(page) == {
            "ServiceRequest/a": "not-appropriate",
            "ServiceRequest/b": "appropriate",
        }


async def test_the_quoted_sentence_is_highlighted_in_the_pasted_note(tmp_path: Path):
    """A card that quotes a note: the page shows that note with the quoted sentence marked, and
    the HTML note's own script never runs."""
    from tests.cases import own_case
    from tests.vignettes import prefetch_from

    case = own_case("note-html")
    request = {
        "hook": case.hook,
        "hookInstance": "note-preview",
        "context": case.context,
        "prefetch": prefetch_from(case.resources),
    }
    app = create_app(Settings(data_dir=tmp_path, auth_required=False, log_level="WARNING"))
    async with serve(app) as base_url, chromium() as browser:
        page = await browser.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        await page.goto(f"{base_url}/")
        await wait_for_answer(page, 1)
        await page.select_option("#example", "")
        await page.fill("#request", json.dumps(request))
        await page.click("#evaluate")
        await wait_for_answer(page, 2)
        assert "Left ankle dorsiflexion 3/5" in await page.inner_text(".card-detail")
        assert await page.is_visible("#notes")
        marked = await page.eval_on_selector_all(
            "#note-list mark", "ms => ms.map(m => m.textContent)"
        )
        assert "Left ankle dorsiflexion 3/5, EHL 3/5 L." in marked
        assert "urinary retention" not in await page.inner_text("#note-list")  # its script
    assert problems == []
