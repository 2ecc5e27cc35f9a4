from __future__ import annotations

from dataclasses import replace

from cds_service.clinical.chart import Chart
from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.exam import Exam
from cds_service.clinical.knowledge import Knowledge
from tests.clinical import records as r


def test_deficit_thresholds_come_from_config(knowledge: Knowledge) -> None:
    chart = Chart.read([r.exam("strength-hip-flexion", 4, side="left")], knowledge, r.NOW)
    assert len(Exam(chart, ClinicalConfig()).motor_deficits()) == 1
    assert Exam(chart, ClinicalConfig()).severe_deficits() == ()
    assert len(Exam(chart, replace(ClinicalConfig(), severe_mrc_max=4)).severe_deficits()) == 1
    assert Exam(chart, replace(ClinicalConfig(), deficit_mrc_max=3)).motor_deficits() == ()


def test_foot_drop_is_ankle_dorsiflexion_on_its_side(knowledge: Knowledge) -> None:
    chart = Chart.read([r.condition("M21.371")], knowledge, r.NOW)
    (deficit,) = Exam(chart, ClinicalConfig()).motor_deficits()
    assert (deficit.muscle, deficit.side) == ("strength-ankle-dorsiflexion", "right")


def test_umn_signs(knowledge: Knowledge) -> None:
    chart = Chart.read(
        [r.exam("reflex-patellar", 3, side="left"), r.exam("babinski", False)], knowledge, r.NOW
    )
    assert Exam(chart, ClinicalConfig()).umn_signs() == ()
    chart = Chart.read([r.exam("reflex-patellar", 4, side="left")], knowledge, r.NOW)
    assert len(Exam(chart, ClinicalConfig()).umn_signs()) == 1
