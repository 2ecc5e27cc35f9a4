"""The published guidance behind each rule, as card links (URLs from reference/clinical.md §1)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cds_service.cards.types import Link


@dataclass(frozen=True)
class Guideline:
    label: str
    url: str

    def link(self) -> Link:
        return {"label": self.label, "url": self.url, "type": "absolute"}


ACR_LOW_BACK_PAIN = Guideline(
    "ACR Appropriateness Criteria: Low Back Pain (2021)",
    "https://acsearch.acr.org/list/GetAppendix?PanelName=Neurologic&TopicId=141",
)
ACP_2011 = Guideline(
    "ACP 2011: Diagnostic imaging for low back pain",
    "https://pubmed.ncbi.nlm.nih.gov/21282698/",
)
NICE_NG59 = Guideline(
    "NICE NG59: Low back pain and sciatica in over 16s",
    "https://www.nice.org.uk/guidance/ng59/chapter/Recommendations",
)
NICE_CKS_SCIATICA = Guideline(
    "NICE CKS: Sciatica (lumbar radiculopathy)",
    "https://cks.nice.org.uk/topics/sciatica-lumbar-radiculopathy/",
)
GIRFT_CES = Guideline(
    "GIRFT national suspected cauda equina syndrome pathway (2023)",
    "https://gettingitrightfirsttime.co.uk/pathway-supports-clinicians-to-diagnose-and-treat-cauda-equina-syndrome-without-delay/",
)
LOTHIAN_RED_FLAGS = Guideline(
    "NHS Lothian: lumbar spine red flags",
    "https://rightdecisions.scot.nhs.uk/msk-pathways/spine-pathways/lumbar-spine-pathways/sub-pages-hidden/primary-care-clinician-within-nhs-lothian-lumbar-spine-red-flags",
)
SHEFFIELD_RED_FLAGS = Guideline(
    "Sheffield: red flags in spinal pain",
    "https://professionals.sheffieldachesandpains.com/pathways/nerve-root-pain/red-flags-in-spinal-pain",
)
CHOOSING_WISELY = Guideline(
    "Choosing Wisely (AAFP): imaging for low back pain",
    "https://aafp.org/content/brand/aafp/family-physician/patient-care/clinical-recommendations/all-clinical-recommendations/cw-back-pain.html",
)

#: Topic → sources. Topics are red-flag ids, dispositions, rule-id prefixes and order topics.
_SOURCES: dict[str, tuple[Guideline, ...]] = {
    # decision-rules §2: GIRFT for the 4-hour MRI standard; ACR variant 4; ACP 2011 Table 2.
    "cauda-equina": (GIRFT_CES, ACR_LOW_BACK_PAIN, ACP_2011),
    # ACP 2011 "severe neurologic deficits"; NHS Lothian: grade <= 3, foot drop -> neurosurgery.
    "severe-motor-deficit": (ACP_2011, LOTHIAN_RED_FLAGS),
    "progressive-motor-deficit": (ACP_2011, LOTHIAN_RED_FLAGS),
    "multilevel-motor-deficit": (ACP_2011, LOTHIAN_RED_FLAGS),
    "cord-compression": (LOTHIAN_RED_FLAGS, SHEFFIELD_RED_FLAGS),
    # ACR variant 7; ACP 2011 immediate MRI for cancer history / infection risk.
    "malignancy": (ACR_LOW_BACK_PAIN, ACP_2011),
    "infection": (ACR_LOW_BACK_PAIN, ACP_2011),
    # ACR variant 6.
    "fracture": (ACR_LOW_BACK_PAIN, ACP_2011),
    "upper-motor-neuron": (SHEFFIELD_RED_FLAGS,),
    # ACR variants 3 and 5; ACP 2007 rec. 4 / ACP 2011 "defer imaging after a trial of therapy".
    "mri": (ACR_LOW_BACK_PAIN, ACP_2011),
    # ACP 2011 "previous spinal imaging with no change in clinical status: no imaging".
    "specialist-review": (ACP_2011, ACR_LOW_BACK_PAIN),
    "uk-mode": (NICE_NG59,),
    # ACR variants 1-2, NICE NG59 1.1.4, CKS safety-netting for cauda equina.
    "physiotherapy": (ACR_LOW_BACK_PAIN, NICE_NG59, NICE_CKS_SCIATICA),
    "imaging-not-indicated": (ACR_LOW_BACK_PAIN, CHOOSING_WISELY, ACP_2011),
    "duplicate-imaging": (ACP_2011,),
}


def sources(topics: Iterable[str]) -> tuple[Guideline, ...]:
    """The guidelines behind ``topics`` (rule ids are matched by their prefix), in order, once."""
    found: dict[Guideline, None] = {}
    for topic in topics:
        for guideline in _SOURCES.get(topic) or _SOURCES.get(topic.split("/")[0], ()):
            found[guideline] = None
    return tuple(found)


def links(topics: Iterable[str]) -> list[Link]:
    return [guideline.link() for guideline in sources(topics)]
