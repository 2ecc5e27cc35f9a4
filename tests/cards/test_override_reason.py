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
