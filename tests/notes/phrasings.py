# ruff: noqa: E501  (one row per line: the table reads like the README it becomes)
"""Note phrasings with the outcome a clinician expects: the README's table is made from these.

Each row: (sentence, concept, context class, expected outcome). Outcomes: ``present`` (a current
finding), ``absent`` (documented absent), ``history`` (counts as history), ``ignored`` (no
finding), or a value ``grade 4 left`` / ``reduced right`` / ``positive left``.
"""

from __future__ import annotations

PHRASINGS: list[tuple[str, str, str, str]] = [
    # positive
    ("Urinary retention since yesterday.", "urinary-retention", "positive", "present"),
    (
        "Not emptying her bladder fully since this morning.",
        "urinary-retention",
        "positive",
        "present",
    ),
    ("New faecal incontinence overnight.", "faecal-incontinence", "positive", "present"),
    ("Numbness around the anus and perineum.", "saddle-anaesthesia", "positive", "present"),
    (
        "Bilateral sciatica for 2 weeks.",
        "radicular-syndrome",
        "positive",
        "present bilateral, 2 weeks",
    ),
    ("Left leg weakness is getting worse.", "progressive-weakness", "positive", "present left"),
    ("3 weeks of left sciatica.", "radicular-syndrome", "positive", "present left, 3 weeks"),
    ("EHL 4/5 L.", "strength-great-toe-extension", "positive", "grade 4 left"),
    ("Weak plantarflexion R 4-/5.", "strength-ankle-plantarflexion", "positive", "grade 4 right"),
    ("Left ankle dorsiflexion 2/5.", "strength-ankle-dorsiflexion", "positive", "grade 2 left"),
    ("AJ absent L, 2+ R.", "reflex-achilles", "positive", "grade 0 left, grade 2 right"),
    ("↓ sensation dorsum L foot.", "sensation-dorsum-foot", "positive", "reduced left"),
    ("SLR +ve L at 40°, -ve R.", "straight-leg-raise", "positive", "positive left, negative right"),
    (
        "Femoral stretch test positive on the right.",
        "femoral-nerve-stretch",
        "positive",
        "positive right",
    ),
    ("Marked right foot drop.", "foot-drop", "positive", "present right"),
    ("Febrile, 38.6.", "fever", "positive", "present"),
    # negated
    ("Denies saddle numbness.", "saddle-anaesthesia", "negated", "absent"),
    ("No urinary retention, no incontinence.", "urinary-retention", "negated", "absent"),
    ("Bladder and bowel function normal.", "faecal-incontinence", "negated", "absent"),
    ("No new sexual dysfunction.", "sexual-dysfunction", "negated", "absent"),
    (
        "Denies bladder or bowel disturbance, saddle numbness or sexual dysfunction.",
        "sexual-dysfunction",
        "negated",
        "absent",
    ),
    ("No trauma, urinary retention since yesterday.", "urinary-retention", "positive", "present"),
    ("Plantarflexion 4/5 L, no foot drop.", "foot-drop", "negated", "absent"),
    ("Apyrexial.", "fever", "negated", "absent"),
    # hypothetical (safety-netting)
    (
        "Advised to return immediately if urinary retention, incontinence or saddle numbness develops.",
        "saddle-anaesthesia",
        "hypothetical",
        "ignored",
    ),
    (
        "Should she notice numbness in the saddle area, attend ED.",
        "saddle-anaesthesia",
        "hypothetical",
        "ignored",
    ),
    (
        "Safety-netted: return urgently if bladder or bowel problems.",
        "urinary-retention",
        "hypothetical",
        "ignored",
    ),
    # historical
    ("History of L foot drop in 2010, resolved.", "foot-drop", "historical", "ignored"),
    ("Previous discectomy.", "prior-lumbar-surgery", "historical", "history"),
    ("PMH: breast cancer 2015.", "malignancy-history", "historical", "history"),
    ("Long-standing stress incontinence.", "urinary-incontinence", "historical", "ignored"),
    # family
    ("FHx: mother had cauda equina syndrome.", "cauda-equina-syndrome", "family", "ignored"),
    ("Father had prostate cancer.", "malignancy", "family", "ignored"),
    # uncertain
    ("Possible retention, bladder scan requested.", "urinary-retention", "uncertain", "present"),
    ("?saddle numbness.", "saddle-anaesthesia", "uncertain", "present"),
    ("Equivocal SLR on the left.", "straight-leg-raise", "uncertain", "ignored"),
    ("?EHL weakness, possibly 4/5 L.", "strength-great-toe-extension", "uncertain", "ignored"),
]
