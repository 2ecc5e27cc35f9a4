"""The fixed text of the cards, for a clinician to review in one place.

Each constant is one fragment a card shows: a paragraph or a line of its ``detail`` (markdown),
the action half of its summary, a suggestion's label, an action's description or the text of an
order it proposes. The builders (``emergency_card``, ``disposition_card``, ``order_card``,
``common``, ``detail``) only choose fragments and fill their ``{fields}`` with ``str.format``;
every field is named here, and what fills it is plain words already (a number as people write
it, record text escaped for markdown). Changing a fragment changes what clinicians read:
tests/cards and the vignettes pin the wording, and cards never show rule ids.

Elsewhere, each in its own table: the names of red flags, screening items, differentials and
data (``phrase``), card topics (``card``), override reasons (``override_reason``, published as
a CodeSystem), guideline links (``guideline``) and the description of an order's rating
(``rating``).
"""

from __future__ import annotations

from typing import Final, NamedTuple


class OrderWording(NamedTuple):
    """How a suggestion that creates an MRI words it; each field has an ``{mri}`` field (the
    MRI's display)."""

    text: str  # the order's own text
    label: str  # the suggestion's label
    description: str  # the description of its action


# --- Emergency referral (critical): the disposition card, and the first card on order hooks ---

EMERGENCY_LEAD: Final = (
    "**Same-day review by the on-call spinal surgical team and emergency MRI of the"
    " lumbosacral spine.**"
)
#: Fields: ``hours`` (ces_mri_hours), ``pvr_ml`` (the post-void residual threshold).
EMERGENCY_CES: Final = (
    "Suspected cauda equina syndrome: refer to hospital now; MRI as soon as possible and"
    " within {hours} hours of the request (GIRFT pathway). Suspected, not"
    " diagnosed: the MRI decides. A bladder scan must not delay the MRI; a post-void"
    " residual under {pvr_ml} mL does not exclude it."
)
EMERGENCY_MOTOR: Final = (
    "Severe, progressive or multilevel weakness: discuss with the on-call spinal team"
    " today (ACP 2011: immediate MRI)."
)
EMERGENCY_CORD: Final = "Possible cord compression: agree the level to image with the spinal team."
EMERGENCY_CONTRAST: Final = (
    "With malignancy or infection risk: MRI without and with contrast (ACR variant 7)."
)
#: The lumbar MRI being ordered with the emergency flags. Field: ``name`` (the order's name).
DRAFT_MRI_ALREADY_STAT: Final = "The MRI being ordered ({name}) is already stat."
DRAFT_MRI_NOT_STAT: Final = "The MRI being ordered ({name}) is not stat: change it to stat."
#: Fields: ``name``, ``months`` (prior_mri_months).
DRAFT_MRI_REPEATS: Final = (
    "The MRI being ordered ({name}) repeats one done within the last"
    " {months} months and no evidence of the flag is newer:"
    " agree with the spinal team whether to repeat it; if it is kept, make it stat."
)
EMERGENCY_ACTION: Final = "same-day spinal surgical review and emergency MRI"
#: Appended to ``EMERGENCY_ACTION`` for suspected cauda equina. Field: ``hours``.
EMERGENCY_ACTION_CES: Final = " within {hours} h"

EMERGENCY_REFERRAL_TEXT: Final = "Same-day referral to the on-call spinal surgical team"
EMERGENCY_REFERRAL_LABEL: Final = "Refer today to on-call spinal surgery (stat)"
EMERGENCY_REFERRAL_DESCRIPTION: Final = "Create a stat referral to the on-call spinal surgical team"
#: The emergency MRI, when none is being ordered.
EMERGENCY_MRI: Final = OrderWording(
    text="Emergency {mri}",
    label="Order emergency {mri} (stat)",
    description="Create a stat order: {mri}",
)
UPGRADE_LABEL: Final = "Make the MRI being ordered stat"
#: Field: ``reference`` (the draft's ``ServiceRequest/<id>``).
UPGRADE_DESCRIPTION: Final = "Change {reference} to priority stat"

# --- Urgent imaging (warning) ---

#: Field: ``mri`` (the MRI's display).
URGENT_LEAD: Final = "**{mri}, urgently (within days).**"
URGENT_CONTRAST: Final = (
    "Cancer history or infection risk: MRI without and with contrast (ACR variant 7;"
    " ACP 2011 immediate imaging)."
)
URGENT_FRACTURE: Final = (
    "Fracture risk (ACR variant 6): radiography or CT are also usually appropriate."
)
URGENT_UPPER_MOTOR_NEURON: Final = (
    "Upper motor neuron signs point above the lumbar roots: consider neurological review"
    " and imaging of the cord or brain."
)
URGENT_ESCALATION: Final = (
    "New weakness, or bladder, bowel or saddle symptoms, make this an emergency."
)
#: Field: ``contrast`` (``URGENT_ACTION_CONTRAST`` or nothing).
URGENT_ACTION: Final = "MRI lumbar spine {contrast}within days"
URGENT_ACTION_CONTRAST: Final = "with and without contrast "
URGENT_MRI: Final = OrderWording(
    text="Urgent {mri}",
    label="Order {mri} (urgent)",
    description="Create an urgent order: {mri}",
)

# --- Routine MRI (info) ---

#: After prior lumbar surgery. Field: ``syndrome``.
MRI_AFTER_SURGERY_FINDING: Final = "{syndrome} after lumbar surgery"
MRI_AFTER_SURGERY_ACTION: Final = "routine MRI lumbar spine with and without contrast"
MRI_AFTER_SURGERY_LEAD: Final = (
    "**Radicular symptoms after prior lumbar surgery: MRI lumbar spine without and"
    " with contrast** (ACR variant 5)."
)
MRI_PERSISTENT_ACTION: Final = (
    "MRI lumbar spine without contrast if surgery or injection is considered"
)
MRI_PERSISTENT_LEAD: Final = (
    "**Persistent radicular symptoms despite conservative care: MRI lumbar spine"
    " without contrast** (ACR variant 3), if the patient would consider surgery or an"
    " epidural steroid injection (ACP/APS 2007)."
)
ROUTINE_MRI: Final = OrderWording(
    text="{mri}",
    label="Order {mri} (routine)",
    description="Create a routine order: {mri}",
)

# --- Spinal specialist review (info) ---

#: Field: ``months`` (prior_mri_months), ``mri`` (the recent MRI as the record names it).
SPECIALIST_RECENT_MRI_LEAD: Final = (
    "**A lumbar MRI was done within the last {months} months**"
    " ({mri}): review it with a spinal specialist rather than"
    " repeat it; repeat imaging needs a change in clinical status (ACP 2011)."
)
SPECIALIST_UK_LEAD: Final = (
    "**NICE NG59**: do not routinely offer imaging in a non-specialist setting (1.1.4);"
    " refer to a spinal or MSK interface service, which considers imaging only if the"
    " result is likely to change management (1.1.6). Explain that imaging may not be"
    " needed (1.1.5)."
)
SPECIALIST_LEAD: Final = (
    "**Persistent radicular symptoms despite conservative care: routine spinal review.**"
)
SPECIALIST_UK_ACTION: Final = "routine referral to spinal / MSK interface service (NICE NG59)"
SPECIALIST_RECENT_MRI_ACTION: Final = "routine spinal specialist review of the existing MRI"
SPECIALIST_ACTION: Final = "routine spinal specialist review"
SPECIALIST_UK_LABEL: Final = "Refer to spinal / MSK interface service (routine)"
SPECIALIST_LABEL: Final = "Refer to spinal specialist (routine)"
SPECIALIST_REFERRAL_UK_TEXT: Final = "Routine referral to spinal surgery / MSK interface service"
SPECIALIST_REFERRAL_RECENT_MRI_TEXT: Final = (
    "Routine referral to spinal surgery: review of existing lumbar MRI"
)
SPECIALIST_REFERRAL_TEXT: Final = "Routine referral to spinal surgery"
SPECIALIST_REFERRAL_DESCRIPTION: Final = "Create a routine referral to the spinal service"

# --- Physiotherapy first (info) ---

#: Fields: ``reason`` (a ``CONSERVATIVE_*`` phrase), ``weeks`` (persistent_weeks).
PHYSIOTHERAPY_LEAD: Final = (
    "**Physiotherapy referral and advice to stay active; no imaging yet**"
    " ({reason}; no red flags). Imaging is not indicated before"
    " {weeks} weeks of conservative care without red flags (ACR variants 1-2; NICE NG59"
    " 1.1.4)."
)
PHYSIOTHERAPY_ACTION: Final = "physiotherapy referral, no imaging yet"
PHYSIOTHERAPY_LABEL: Final = "Refer to physiotherapy"
PHYSIOTHERAPY_REFERRAL_DESCRIPTION: Final = "Create a routine referral to physiotherapy"
#: Why conservative care comes first. Fields: ``weeks`` (persistent_weeks), ``duration``.
CONSERVATIVE_ONSET_UNKNOWN: Final = "onset not documented, counted as under {weeks} weeks"
CONSERVATIVE_DURATION: Final = "{duration} of symptoms"
CONSERVATIVE_NO_CARE: Final = "{duration}, no conservative care documented"
SAFETY_NETTING: Final = (
    "**Safety-netting**: tell the patient to go to an emergency department at once with"
    " difficulty passing urine, loss of bladder or bowel control, numbness around the back"
    " passage or genitals, new sexual problems, or numbness or weakness in both legs."
)
#: Field: ``weeks`` (persistent_weeks).
REVIEW_ADVICE: Final = (
    "Review if weakness worsens, or if symptoms persist after {weeks} weeks of conservative care."
)

# --- An imaging order rated not appropriate (warning, order hooks) ---

#: Fields: ``name`` (the order's name), ``reason`` (why it is not appropriate).
NOT_APPROPRIATE_LEAD: Final = "**{name} is rated not appropriate.** {reason}"
#: Field: ``reference`` (the draft's ``ServiceRequest/<id>``).
CANCEL_DESCRIPTION: Final = "Cancel the draft order {reference}"
#: A repeat lumbar MRI. Field: ``months`` (prior_mri_months).
DUPLICATE_FINDING: Final = "Lumbar MRI within the last {months} months"
DUPLICATE_ACTION: Final = "repeat MRI not indicated, spinal specialist review instead"
DUPLICATE_LABEL: Final = "Cancel the repeat MRI and refer to a spinal specialist"
#: Imaging before conservative care. Fields: ``syndrome``, ``reason`` (a ``CONSERVATIVE_*``).
NOT_YET_FINDING: Final = "{syndrome}, {reason}"
#: Field: ``kind`` (``MRI`` or ``imaging``).
NOT_YET_ACTION: Final = "lumbar {kind} not yet indicated, physiotherapy instead"
#: Field: ``weeks`` (persistent_weeks).
NOT_YET_LEAD: Final = (
    "Imaging is indicated for red flags, or after {weeks}"
    " weeks of conservative care when surgery or injection is considered. If a red flag"
    " is present but not recorded, record it."
)
#: Field: ``kind`` (``MRI`` or ``imaging``).
NOT_YET_CANCEL_LABEL: Final = "Cancel the {kind} order (physiotherapy already being ordered)"
NOT_YET_REPLACE_LABEL: Final = "Cancel the {kind} order and refer to physiotherapy"

# --- Physiotherapy ordered while red flags stand (warning, order hooks) ---

#: Fields: ``orders`` (the referrals' references), ``tier`` (emergency or urgent), ``first``.
PHYSIOTHERAPY_WITH_FLAGS_LEAD: Final = (
    "**Physiotherapy is being ordered ({orders}) while {tier} red flags stand:"
    " {first} comes first.** Physiotherapy can follow once the red flag is explained."
)
#: Field: ``first`` (what comes before physiotherapy).
PHYSIOTHERAPY_WITH_FLAGS_ACTION: Final = "physiotherapy ordered, {first} comes first"
FIRST_EMERGENCY: Final = "emergency spinal review"
FIRST_URGENT: Final = "urgent MRI"


# --- The evidence behind every card: the sections of its detail, after the lead ---

RED_FLAGS: Final = "Red flags"
LOCALISATION: Final = "Localisation"
COURSE: Final = "Course"
CES_SCREEN: Final = "Cauda equina screen"
WEAK_FLAGS: Final = "Weak flags"
DIFFERENTIALS: Final = "Differential diagnosis"
NOT_COUNTED: Final = "Not counted"
UNAVAILABLE: Final = "Data not retrieved"
NOTES: Final = "Clinical notes"

#: Fields: ``root`` (``Left L5``), ``word`` (a ``LIKELIHOOD`` key), ``meaning`` (its value).
ROOT: Final = "- {root} root: **{word}** ({meaning})"
#: What each likelihood word means, said once beside it.
LIKELIHOOD: Final = {
    "probable": "the examination points clearly to this root",
    "possible": "the findings point to this root, but are few or shared with neighbouring roots",
}
DISC_LEVEL: Final = "- Disc level: {levels}"
LESS_LIKELY: Final = "- Less likely: {roots}"

#: Field: ``weeks`` (persistent_weeks).
ONSET_UNKNOWN: Final = (
    "- **Onset not documented**: please record when symptoms began. Until then the"
    " duration counts as under {weeks} weeks."
)
SYMPTOMS_FOR: Final = "- Symptoms for {duration}"
NO_CONSERVATIVE_CARE: Final = "- No conservative care (physiotherapy) documented"
CONSERVATIVE_CARE_STARTED: Final = "- Conservative care started {duration} ago"
PRIOR_SURGERY: Final = "- Prior lumbar spine surgery"
#: Fields: ``months`` (prior_mri_months), ``mri`` (the MRI as the record names it).
RECENT_MRI: Final = "- Lumbar MRI within the last {months} months: {mri}"
AGE: Final = "- Age {years}"

#: Field: ``items`` (screening items, joined).
CES_PRESENT: Final = "- Present: {items}"
CES_UNKNOWN: Final = (
    "- **Not documented (unknown, not negative)**: {items}. Ask about and record each."
)
CES_ABSENT: Final = "- Looked for, not found: {items}"

#: Field: ``flags`` (weak flags, joined).
WEAK_FLAGS_NOTED: Final = "- {flags}: noted, urgency unchanged"
#: Field: ``diagnosis``.
CONSIDER: Final = "- Consider {diagnosis}"
#: Field: ``data`` (kinds of record data, joined).
NOT_RETRIEVED: Final = "- {data}: could not be retrieved; what they hold is unknown, not negative"
PARTLY_RETRIEVED: Final = (
    "- {data}: only partly retrieved (further pages could not be read); what the rest holds is"
    " unknown, not negative"
)
