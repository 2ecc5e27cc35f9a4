"""A generated corpus of note sentences with the outcome each must give (issue 14).

At least 200 sentences per cauda-equina item and per examination family, built from varied
wordings, abbreviations, sides, grades, negations and templates by a seeded generator, so the
corpus is the same on every run. The wordings here are the test's own (written as clinicians
write them), not copied from ``valuesets/notes``: a wording the rules miss is a failure.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

SEED = 14
PER_FAMILY = 240


@dataclass(frozen=True)
class Sample:
    family: str  # "urinary-retention", ..., "strength", "reflex", "sensation", "sign"
    context: str  # positive, negated, hypothetical, family, historical, uncertain
    sentence: str
    concept: str
    expected: str  # outcome string (tests/notes/outcome.py)


CES_WORDINGS: dict[str, list[str]] = {
    "urinary-retention": [
        "urinary retention",
        "retention of urine",
        "difficulty passing urine",
        "difficulty voiding",
        "inability to pass urine",
        "not emptying his bladder fully",
        "incomplete bladder emptying",
        "painless retention",
        "retention",
    ],
    "urinary-incontinence": [
        "urinary incontinence",
        "incontinence of urine",
        "loss of bladder control",
        "leaking urine",
        "overflow incontinence",
        "incontinence",
    ],
    "faecal-incontinence": [
        "faecal incontinence",
        "fecal incontinence",
        "bowel incontinence",
        "loss of bowel control",
        "incontinence of faeces",
        "soiling",
    ],
    "saddle-anaesthesia": [
        "saddle anaesthesia",
        "saddle numbness",
        "perineal numbness",
        "saddle anesthesia",
        "numbness around the anus",
        "perianal numbness",
        "numbness in the saddle area",
        "saddle paraesthesia",
        "numb bottom",
    ],
    "sexual-dysfunction": [
        "sexual dysfunction",
        "erectile dysfunction",
        "impotence",
        "loss of genital sensation",
        "genital numbness",
    ],
    "bilateral-symptoms": [
        "bilateral sciatica",
        "bilateral leg pain",
        "pain down both legs",
        "bilateral leg symptoms",
        "sciatica in both legs",
        "numbness in both legs",
    ],
}
_TIMES = ["since yesterday", "for 2 days", "overnight", "since this morning", "today", ""]
_LEADS = ["", "HPI: ", "ED triage: ", "Today ", "Pt reports "]
_CES_TEMPLATES: dict[str, list[str]] = {
    "positive": [
        "{lead}{w} {t}.",
        "Reports {w} {t}.",
        "c/o {w} {t}.",
        "{W} {t}.",
        "New {w} {t}.",
        "Describes {w} {t}, bladder scan requested.",
    ],
    "negated": [
        "No {w}.",
        "Denies {w}.",
        "{W}: denied.",
        "Nil {w}.",
        "No evidence of {w}.",
        "Patient denies any {w}.",
        "No {w} reported.",
        "Denies back pain radiation or {w}.",
        "{W} - none.",
    ],
    "hypothetical": [
        "Return if {w} develops.",
        "Advised to return immediately if {w}.",
        "Should she notice {w}, attend ED.",
        "Safety-netted re {w}.",
        "If {w} occurs, call 999.",
        "Seek urgent help if {w}.",
        "Safety netting: {w}, leg weakness.",
    ],
    "family": [
        "Mother had {w}.",
        "FHx: {w}.",
        "Family history of {w}.",
        "Father had {w} after surgery.",
    ],
    "historical": [
        "History of {w} in 2010.",
        "Previous {w}, resolved.",
        "PMH: {w} 15 years ago.",
        "h/o {w} as a child.",
    ],
    "uncertain": [
        "Possible {w}.",
        "?{w}.",
        "Query {w} {t}.",
        "Suspected {w}.",
        "Possible early {w}, for MRI today.",
    ],
}
_CES_EXPECTED = {
    "positive": "present",
    "uncertain": "present",
    "negated": "absent",
    "hypothetical": "ignored",
    "family": "ignored",
    "historical": "ignored",
}

MUSCLES: dict[str, list[str]] = {
    "strength-hip-flexion": ["hip flexion", "hip flexors", "iliopsoas"],
    "strength-knee-extension": ["knee extension", "quadriceps", "quads"],
    "strength-ankle-dorsiflexion": [
        "ankle dorsiflexion",
        "dorsiflexion",
        "tibialis anterior",
        "TA",
    ],
    "strength-great-toe-extension": ["EHL", "great toe extension", "big toe extension"],
    "strength-hip-abduction": ["hip abduction", "hip abductors"],
    "strength-ankle-inversion": ["ankle inversion", "inversion"],
    "strength-ankle-eversion": ["ankle eversion", "eversion", "peronei"],
    "strength-ankle-plantarflexion": [
        "plantarflexion",
        "plantar flexion",
        "ankle plantarflexion",
        "gastrocnemius",
    ],
}
_GRADES = [
    ("4/5", 4),
    ("4-/5", 4),
    ("4+/5", 4),
    ("3/5", 3),
    ("2/5", 2),
    ("5/5", 5),
    ("MRC 3", 3),
    ("grade 4", 4),
    ("1/5", 1),
    ("0/5", 0),
]
_SIDES = [
    ("L", "left"),
    ("R", "right"),
    ("left", "left"),
    ("right", "right"),
    ("(L)", "left"),
    ("on the right", "right"),
    ("lt", "left"),
    ("rt", "right"),
]
REFLEXES: dict[str, list[str]] = {
    "reflex-patellar": ["KJ", "knee jerk", "patellar reflex", "knee reflex"],
    "reflex-achilles": ["AJ", "ankle jerk", "achilles reflex", "ankle reflex"],
}
_REFLEX_VALUES = [
    ("absent", 0),
    ("0", 0),
    ("reduced", 1),
    ("1+", 1),
    ("diminished", 1),
    ("2+", 2),
    ("normal", 2),
    ("brisk", 3),
    ("3+", 3),
]
AREAS: dict[str, list[str]] = {
    "sensation-dorsum-foot": [
        "dorsum of the foot",
        "dorsum of foot",
        "first web space",
        "top of the foot",
    ],
    "sensation-lateral-foot": [
        "lateral border of the foot",
        "lateral foot",
        "sole of the foot",
        "little toe",
    ],
    "sensation-medial-ankle": ["medial ankle", "medial malleolus", "medial shin"],
    "sensation-anterior-thigh": ["anterior thigh", "front of the thigh"],
    "sensation-medial-knee": ["medial knee"],
}
_LEVELS = [
    ("reduced", "reduced"),
    ("↓", "reduced"),
    ("diminished", "reduced"),
    ("altered", "reduced"),
    ("absent", "absent"),
    ("normal", "normal"),
    ("intact", "normal"),
]
SIGNS: dict[str, list[str]] = {
    "straight-leg-raise": ["SLR", "straight leg raise", "straight leg raising"],
    "crossed-straight-leg-raise": ["crossed SLR", "crossed straight leg raise", "XSLR"],
    "femoral-nerve-stretch": ["FST", "femoral stretch test", "femoral nerve stretch test"],
}
_SIGN_VALUES = [
    ("+ve", "positive"),
    ("positive", "positive"),
    ("-ve", "negative"),
    ("negative", "negative"),
    ("positive at 40°", "positive"),
]


def corpus() -> list[Sample]:
    rng = random.Random(SEED)
    samples: list[Sample] = []
    for item, wordings in CES_WORDINGS.items():
        samples.extend(_ces(rng, item, wordings))
    samples.extend(_strength(rng))
    samples.extend(_reflexes(rng))
    samples.extend(_sensation(rng))
    samples.extend(_signs(rng))
    return samples


def _ces(rng: random.Random, item: str, wordings: list[str]) -> Iterator[Sample]:
    concept = "radicular-syndrome" if item == "bilateral-symptoms" else item
    seen: set[str] = set()
    contexts = list(_CES_TEMPLATES)
    for attempt in range(PER_FAMILY * 50):
        if len(seen) >= PER_FAMILY:
            break
        context = contexts[attempt % len(contexts)]
        template, word = rng.choice(_CES_TEMPLATES[context]), rng.choice(wordings)
        if word.startswith("not ") and context not in ("positive", "uncertain"):
            continue  # "denies not emptying his bladder" is no one's English
        sentence = (
            " ".join(
                template.format(
                    w=word,
                    W=word[:1].upper() + word[1:],
                    t=rng.choice(_TIMES),
                    lead=rng.choice(_LEADS),
                ).split()
            )
            .replace(" .", ".")
            .replace(" ,", ",")
        )
        if sentence in seen:
            continue
        seen.add(sentence)
        expected = _CES_EXPECTED[context]
        if "resolved" in template:
            expected = "absent"  # "previous retention, resolved": looked for, now absent
        if item == "bilateral-symptoms" and expected == "present":
            expected = "present bilateral"
        if item == "bilateral-symptoms" and expected == "absent":
            concept_here = "bilateral-leg-symptoms"
        else:
            concept_here = concept
        yield Sample(item, context, sentence, concept_here, expected)


def _unique(rng: random.Random, make, count: int = PER_FAMILY) -> Iterator[Sample]:  # type: ignore[no-untyped-def]
    seen: set[str] = set()
    tries = 0
    while len(seen) < count and tries < count * 50:
        tries += 1
        sample = make(rng)
        if sample.sentence not in seen:
            seen.add(sample.sentence)
            yield sample


def _strength(rng: random.Random) -> Iterator[Sample]:
    templates = [
        "{m} {g} {s}.",
        "{S} {m} {g}.",
        "Power: {m} {g} {s}, otherwise 5/5.",
        "O/E {m} {g} {s}.",
        "Weak {m} {s} {g}.",
    ]

    def make(rng: random.Random) -> Sample:
        concept = rng.choice(list(MUSCLES))
        muscle, (grade_text, grade), (side_text, side) = (
            rng.choice(MUSCLES[concept]),
            rng.choice(_GRADES),
            rng.choice(_SIDES),
        )
        template = rng.choice(templates)
        if template.startswith("{S}") and side_text.startswith(("on", "(")):
            template = "{m} {g} {s}."
        sentence = template.format(m=muscle, g=grade_text, s=side_text, S=side_text.capitalize())
        context = "positive"
        expected = f"grade {grade} {side}"
        if rng.random() < 0.15:
            sentence, context, expected = f"{muscle.capitalize()} not tested.", "negated", "ignored"
        elif rng.random() < 0.15:
            sentence, context, expected = (
                f"?{muscle} weakness, possibly {grade_text} {side_text}.",
                "uncertain",
                "ignored",
            )
        return Sample("strength", context, sentence, concept, expected)

    return _unique(rng, make)


def _reflexes(rng: random.Random) -> Iterator[Sample]:
    templates = ["{r} {v} {s}.", "Reflexes: {r} {v} {s}.", "{S} {r} {v}."]

    def make(rng: random.Random) -> Sample:
        concept = rng.choice(list(REFLEXES))
        name, (value_text, value), (side_text, side) = (
            rng.choice(REFLEXES[concept]),
            rng.choice(_REFLEX_VALUES),
            rng.choice(_SIDES),
        )
        template = rng.choice(templates)
        if template.startswith("{S}") and side_text.startswith(("on", "(")):
            template = "{r} {v} {s}."
        sentence = template.format(r=name, v=value_text, s=side_text, S=side_text.capitalize())
        return Sample("reflex", "positive", sentence, concept, f"grade {value} {side}")

    return _unique(rng, make)


def _sensation(rng: random.Random) -> Iterator[Sample]:
    templates = [
        "{l} sensation {a} {s}.",
        "Sensation {l} over the {a} {s}.",
        "{S} {a}: sensation {l}.",
    ]

    def make(rng: random.Random) -> Sample:
        concept = rng.choice(list(AREAS))
        area, (level_text, level), (side_text, side) = (
            rng.choice(AREAS[concept]),
            rng.choice(_LEVELS),
            rng.choice(_SIDES),
        )
        template = rng.choice(templates)
        if template.startswith("{S}") and side_text.startswith(("on", "(")):
            template = "{l} sensation {a} {s}."
        sentence = template.format(l=level_text, a=area, s=side_text, S=side_text.capitalize())
        sentence = sentence[:1].upper() + sentence[1:]
        return Sample("sensation", "positive", sentence, concept, f"{level} {side}")

    return _unique(rng, make)


def _signs(rng: random.Random) -> Iterator[Sample]:
    templates = ["{n} {v} {s}.", "{S} {n} {v}.", "O/E: {n} {v} {s}."]

    def make(rng: random.Random) -> Sample:
        concept = rng.choice(list(SIGNS))
        name, (value_text, value), (side_text, side) = (
            rng.choice(SIGNS[concept]),
            rng.choice(_SIGN_VALUES),
            rng.choice(_SIDES),
        )
        template = rng.choice(templates)
        if template.startswith("{S}") and side_text.startswith(("on", "(")):
            template = "{n} {v} {s}."
        sentence = template.format(n=name, v=value_text, s=side_text, S=side_text.capitalize())
        context, expected = "positive", f"{value} {side}"
        roll = rng.random()
        if roll < 0.15:
            sentence, context, expected = f"No {name} {side_text}.", "negated", f"negative {side}"
        elif roll < 0.3:
            sentence, context, expected = f"Equivocal {name} {side_text}.", "uncertain", "ignored"
        return Sample("sign", context, sentence, concept, expected)

    return _unique(rng, make)
