from dataclasses import replace

from cds_service.cards import phrase
from cds_service.clinical.config import ClinicalConfig
from tests.cards.factory import CES_FLAG, LEFT_L5, MALIGNANCY_FLAG, assessment

CONFIG = ClinicalConfig()


def test_joined_reads_as_a_list_and_drops_repeats():
    assert phrase.joined([]) == ""
    assert phrase.joined(["a"]) == "a"
    assert phrase.joined(["a", "b", "a", "c"]) == "a, b and c"


def test_syndrome_names_side_root_and_disc_level():
    assert phrase.syndrome(assessment(), CONFIG) == "Probable left L5 radiculopathy (L4-L5)"


def test_syndrome_says_possible_below_the_configured_confidence():
    loc = replace(LEFT_L5, confidence=0.3)
    assert phrase.syndrome(assessment(localisation=loc), CONFIG) == (
        "Possible left L5 radiculopathy (L4-L5)"
    )


def test_syndrome_without_disc_level():
    loc = replace(LEFT_L5, disc_levels=())
    assert phrase.syndrome(assessment(localisation=loc), CONFIG) == "Probable left L5 radiculopathy"


def test_syndrome_falls_back_to_what_the_data_supports():
    assert phrase.syndrome(assessment(localisation=None), CONFIG) == "Lumbar radicular syndrome"
    no_root = assessment(localisation=None, radicular=False)
    assert phrase.syndrome(no_root, CONFIG) == "Low back pain"
    assert phrase.syndrome(replace(no_root, back_pain=False), CONFIG) == "Lumbar spine"


def test_weeks_are_rounded_for_reading():
    assert phrase.weeks(0.3) == "under 1 week"
    assert phrase.weeks(1.2) == "1 week"
    assert phrase.weeks(9.6) == "10 weeks"


def test_weak_flag_takes_the_age_from_its_id():
    assert phrase.weak_flag("age-over-55") == "age over 55"
    assert phrase.weak_flag("weight-loss") == "unexplained weight loss"
    assert phrase.weak_flag("night-pain") == "night pain"


def test_flag_finding_capitalises_only_the_first_flag():
    assert phrase.flag_finding([CES_FLAG, MALIGNANCY_FLAG]) == (
        "Suspected cauda equina syndrome and malignancy, current or past"
    )


def test_unknown_ids_are_made_readable():
    assert phrase.flag("new-flag-id") == "New flag id"
    assert phrase.ces_item("bladder_sensation") == "bladder sensation"
    assert phrase.differential("hip-osteoarthritis") == "hip osteoarthritis"


def test_number_writes_thresholds_as_people_do():
    assert phrase.number(6.0) == "6"
    assert phrase.number(6.5) == "6.5"
