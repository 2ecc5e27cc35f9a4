import json

import pytest

from cds_service.cards import override_reason


@pytest.mark.parametrize(
    "codes",
    [
        override_reason.IMAGING_NOT_INDICATED,
        override_reason.DUPLICATE_IMAGING,
        override_reason.EMERGENCY,
        override_reason.PHYSIOTHERAPY_WITH_RED_FLAGS,
    ],
)
def test_every_reason_has_code_system_and_display(codes):
    codings = override_reason.codings(codes)
    assert [c["code"] for c in codings] == list(codes)
    assert len(set(codes)) == len(codes)
    for coding in codings:
        assert coding["system"] == override_reason.SYSTEM
        assert coding["display"].strip()


def test_imaging_card_offers_the_reasons_of_the_rules():
    assert set(override_reason.IMAGING_NOT_INDICATED) >= {
        "red-flag-not-recorded",
        "conservative-care-completed",
        "procedure-planning",
        "specialist-request",
        "patient-preference",
    }


def test_the_code_system_is_published_with_every_code_and_display():
    from cds_service.resources import data_dir

    path = data_dir("valuesets") / "CodeSystem-override-reason.json"
    published = json.loads(path.read_text(encoding="utf-8"))
    assert published["url"] == override_reason.SYSTEM
    used = {
        code
        for codes in (
            override_reason.IMAGING_NOT_INDICATED,
            override_reason.DUPLICATE_IMAGING,
            override_reason.EMERGENCY,
            override_reason.PHYSIOTHERAPY_WITH_RED_FLAGS,
        )
        for code in codes
    }
    concepts = {c["code"]: c["display"] for c in published["concept"]}
    assert used <= set(concepts)
    assert concepts == {c["code"]: c["display"] for c in override_reason.codings(tuple(concepts))}
