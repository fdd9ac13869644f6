"""Teratogenicity precautions (guideline: Infection and teratogenicity).

"Complete abstinence or contraception must be used by female patients of childbearing
potential, and male patients must practice complete abstinence or use condoms throughout the
treatment duration, including dose interruptions, and for 1 week after treatment
discontinuation if their partner is pregnant or is of childbearing potential and does not use
contraception."

Order hooks (a lenalidomide draft): R-TERATO-F for a patient of childbearing potential,
R-TERATO-M for a man. Any hook, for a patient on or being prescribed lenalidomide: evidence of
pregnancy is critical (lenalidomide contraindicated), with a suggestion that removes the draft
lenalidomide order. On patient-view only that critical card is shown: the precautions belong
to prescribing.

Childbearing potential (clinical rules section 8): female, or sex unknown or other, younger
than 55 (or of unknown age), unless a hysterectomy, a bilateral oophorectomy or a
postmenopausal state of at least 24 months is documented. The doubt goes to the side of
caution: an undated postmenopausal state, or one documented for less than 24 months, does not
exclude it.
"""

from __future__ import annotations

import calendar
from datetime import date

from rules.catalogue import rule
from rules.model import (
    Evaluation,
    InputUsed,
    OrdersUnderReview,
    PatientSnapshot,
    Recommendation,
    RemoveDraft,
)
from rules.treatment_course import on_lenalidomide

SECTION = rule("R-TERATO-F").section  # "Infection and teratogenicity"

# R-TERATO-F (clinical rules section 8): childbearing potential below age 55, women 50-54
# included (menopause is not assumed from age alone in that range).
CHILDBEARING_AGE_BELOW = 55
# R-TERATO-F: "postmenopausal state >= 24 months is documented" — the onset (or, without one,
# the recorded date) of the postmenopausal state at least 24 months before today.
POSTMENOPAUSAL_FOR_MONTHS = 24
# R-TERATO-F (clinical rules section 8, the lenalidomide label's contraception window): two
# reliable methods of contraception, or complete abstinence, from 4 weeks before starting,
# during treatment and dose interruptions, until 4 weeks after stopping.
CONTRACEPTION_BEFORE_WEEKS = 4
CONTRACEPTION_AFTER_WEEKS = 4
# R-TERATO-F: pregnancy status observation (LOINC 82810-3) value 1 = pregnant.
PREGNANT_VALUE = 1.0
# R-TERATO-F: the latest pregnancy test positive is taken as a current pregnancy for 280 days
# (40 weeks, a term pregnancy) — the service's choice; a later negative test replaces it.
POSITIVE_TEST_CURRENT_FOR_DAYS = 280
# R-TERATO-M: "for 1 week after treatment discontinuation".
MALE_PRECAUTION_AFTER_DAYS = 7

# Condition and procedure categories that end childbearing potential whatever the date
# (fhir_mappings/terminology.py); "postmenopausal" needs its 24 months.
SURGICAL_EXCLUSIONS: tuple[tuple[str, str], ...] = (
    ("hysterectomy", "hysterectomy"),
    ("bilateral-oophorectomy", "bilateral oophorectomy"),
)

QUOTE = (
    'Guideline (*Infection and teratogenicity*): "Complete abstinence or contraception must be '
    "used by female patients of childbearing potential, and male patients must practice "
    "complete abstinence or use condoms throughout the treatment duration, including dose "
    "interruptions, and for 1 week after treatment discontinuation if their partner is "
    'pregnant or is of childbearing potential and does not use contraception."'
)
MALE_PRECAUTIONS = (
    "Lenalidomide is found in semen (< 0.01 % of the dose). Male patients must use condoms or "
    "abstain throughout treatment, including interruptions, and for 1 week after stopping, if "
    "the partner is pregnant or of childbearing potential without contraception."
)


def teratogenicity(
    snapshot: PatientSnapshot, evaluation: Evaluation, orders: OrdersUnderReview
) -> list[Recommendation]:
    """R-TERATO-F (pregnancy: critical), R-TERATO-M."""
    view = evaluation.hook == "patient-view"
    if view and not on_lenalidomide(snapshot):
        return []
    if not view and not orders.lenalidomide:
        return []
    pregnancy = _pregnancy_evidence(snapshot, evaluation.today)
    if pregnancy:
        return [_pregnant(pregnancy, orders)]
    if view:
        return []
    age = snapshot.age_on(evaluation.today)
    if snapshot.sex == "male":
        return [_male()]
    exclusion, not_enough = _not_of_childbearing_potential(snapshot, evaluation.today)
    if exclusion is not None:
        return []
    if age is not None and age >= CHILDBEARING_AGE_BELOW:
        if snapshot.sex == "female":
            return []
        return [_sex_unknown_past_childbearing_age(snapshot, age)]
    return [_childbearing_potential(snapshot, age, not_enough, starting=not on_lenalidomide(snapshot))]


def _pregnant(pregnancy: tuple[InputUsed, ...], orders: OrdersUnderReview) -> Recommendation:
    removals = tuple(
        RemoveDraft(
            order_id=order.id,
            drug="lenalidomide",
            label="Remove the lenalidomide order (contraindicated in pregnancy)",
            description="Remove the draft lenalidomide order: lenalidomide is teratogenic and "
            "contraindicated in pregnancy.",
        )
        for order in orders.lenalidomide
    )
    return Recommendation(
        rule_ids=("R-TERATO-F",),
        concern="teratogenicity",
        severity="critical",
        summary="Pregnancy on record: lenalidomide is contraindicated (teratogenic)",
        rationale=(
            "Evidence of pregnancy: " + "; ".join(f"{i.name} {i.value}" for i in pregnancy) + ".",
            "Lenalidomide, an analogue of thalidomide, is teratogenic: it must not be given "
            "during pregnancy. Stop or do not start it and discuss with the treating team.",
            QUOTE,
        ),
        section=SECTION,
        inputs=pregnancy,
        actions=removals,
        # Each draft is its own order: all of them may need removing.
        selection="any" if len(removals) > 1 else "at-most-one",
    )


def _childbearing_potential(
    snapshot: PatientSnapshot, age: int | None, not_enough: tuple[InputUsed, ...], *, starting: bool
) -> Recommendation:
    sex = snapshot.sex
    test = snapshot.pregnancy_test
    test_result = "positive" if test is not None and test.value == PREGNANT_VALUE else "negative"
    if sex == "female":
        who = f"Woman aged {age}" if age is not None else "Woman of unrecorded age"
    else:
        recorded = f"recorded as '{sex}'" if sex else "not recorded"
        who = (f"Patient aged {age}" if age is not None else "Patient of unrecorded age") + f", sex {recorded}"
    finding = (
        f"{who}: taken as of childbearing potential (no hysterectomy, bilateral oophorectomy or "
        f"postmenopausal state of ≥ {POSTMENOPAUSAL_FOR_MONTHS} months documented)."
    )
    for entry in not_enough:
        when = (
            f"dated {entry.when.isoformat()}, less than {POSTMENOPAUSAL_FOR_MONTHS} months ago"
            if entry.when is not None
            else "undated"
        )
        finding += (
            f" A postmenopausal state is on record ({when}): it excludes childbearing "
            f"potential only when documented for ≥ {POSTMENOPAUSAL_FOR_MONTHS} months."
        )
    last_test = (
        f"Latest pregnancy test: {test_result} on {test.when.isoformat()}."
        if test is not None
        else "No pregnancy test on record."
    )
    methods = "two reliable methods of contraception, or complete abstinence,"
    if starting:
        summary = (
            f"Before starting lenalidomide (teratogenic): exclude pregnancy; contraception "
            f"{CONTRACEPTION_BEFORE_WEEKS} wk before to {CONTRACEPTION_AFTER_WEEKS} wk after"
        )
        advice = (
            f"Before starting: pregnancy must be excluded by pregnancy testing as the "
            f"lenalidomide risk-management programme requires (tests continue throughout "
            f"therapy as the programme sets out), and {methods} from "
            f"{CONTRACEPTION_BEFORE_WEEKS} weeks before starting, throughout therapy "
            f"including dose interruptions, and for {CONTRACEPTION_AFTER_WEEKS} weeks after "
            "stopping."
        )
    else:
        summary = (
            "On lenalidomide (teratogenic): pregnancy tests during treatment; contraception incl. "
            f"interruptions, {CONTRACEPTION_AFTER_WEEKS} wk after stopping"
        )
        advice = (
            f"During treatment: pregnancy tests as the lenalidomide risk-management programme "
            f"requires, and {methods} begun {CONTRACEPTION_BEFORE_WEEKS} weeks before the "
            f"start, continued during treatment and dose interruptions and for "
            f"{CONTRACEPTION_AFTER_WEEKS} weeks after stopping."
        )
    # Sex unknown or other below 55: the precautions of a woman of childbearing potential, the
    # stricter ones (clinical rules section 8), not the male advice.
    paragraphs = (f"{finding} {last_test}", advice, QUOTE)
    inputs = [InputUsed("sex", sex or "not recorded")]
    if age is not None:
        inputs.append(InputUsed("age", f"{age} years"))
    if test is not None:
        inputs.append(InputUsed("pregnancy test", test_result, test.when))
    inputs.extend(not_enough)
    needed = ["pregnancy test"] + (["sex"] if sex not in ("female", "male") else [])
    return Recommendation(
        rule_ids=("R-TERATO-F",),
        concern="teratogenicity",
        severity="warning",
        summary=summary,
        rationale=paragraphs,
        section=SECTION,
        inputs=tuple(inputs),
        data_needed=tuple(needed),
    )


def _male() -> Recommendation:
    return Recommendation(
        rule_ids=("R-TERATO-M",),
        concern="teratogenicity",
        severity="info",
        summary=f"Lenalidomide: condoms or abstinence during treatment and {MALE_PRECAUTION_AFTER_DAYS} days after if the partner could become pregnant",
        rationale=(MALE_PRECAUTIONS, QUOTE),
        section=SECTION,
        inputs=(InputUsed("sex", "male"),),
    )


def _sex_unknown_past_childbearing_age(snapshot: PatientSnapshot, age: int) -> Recommendation:
    return Recommendation(
        rule_ids=("R-TERATO-M",),
        concern="teratogenicity",
        severity="info",
        summary="Sex not recorded as male or female: confirm the lenalidomide contraception precautions",
        rationale=(
            f"Sex is recorded as '{snapshot.sex or 'not recorded'}', age {age}: not of childbearing "
            f"potential by age (≥ {CHILDBEARING_AGE_BELOW}), but the precautions for men may apply.",
            "If the patient is male: " + MALE_PRECAUTIONS[0].lower() + MALE_PRECAUTIONS[1:],
            QUOTE,
        ),
        section=SECTION,
        inputs=(InputUsed("sex", snapshot.sex or "not recorded"), InputUsed("age", f"{age} years")),
        data_needed=("sex",),
    )


def _not_of_childbearing_potential(
    snapshot: PatientSnapshot, today: date
) -> tuple[InputUsed | None, tuple[InputUsed, ...]]:
    """The documented hysterectomy, bilateral oophorectomy or postmenopausal state (≥ 24
    months) that ends childbearing potential, if any; and the postmenopausal entries that do
    not suffice (undated, or recent), for the card to say why they were not enough."""
    for category, name in SURGICAL_EXCLUSIONS:
        for condition in snapshot.conditions_in(category):
            return InputUsed(name, condition.display or name, condition.onset or condition.recorded), ()
        for procedure in snapshot.procedures:
            if procedure.category == category:
                return InputUsed(name, procedure.display or name, procedure.performed), ()
    since_at_most = _months_before(today, POSTMENOPAUSAL_FOR_MONTHS)
    not_enough: list[InputUsed] = []
    for condition in snapshot.conditions_in("postmenopausal"):
        since = condition.onset or condition.recorded
        if since is not None and since <= since_at_most:
            return InputUsed("postmenopausal state", condition.display or "postmenopausal", since), ()
        not_enough.append(InputUsed("postmenopausal state (not used)", condition.display or "postmenopausal", since))
    return None, tuple(not_enough)


def _months_before(today: date, months: int) -> date:
    """The same day of the month ``months`` earlier, or that month's last day when it is
    shorter (24 months before 29 February 2028 is 28 February 2026)."""
    year, month_index = divmod(today.year * 12 + today.month - 1 - months, 12)
    month = month_index + 1
    return date(year, month, min(today.day, calendar.monthrange(year, month)[1]))


def _pregnancy_evidence(snapshot: PatientSnapshot, today: date) -> tuple[InputUsed, ...]:
    found = [
        InputUsed("pregnancy", c.display or "pregnancy (problem list)", c.onset or c.recorded)
        for c in snapshot.conditions_in("pregnancy")
        if c.active
    ]
    test = snapshot.pregnancy_test
    if test is not None and test.value == PREGNANT_VALUE and (today - test.when).days <= POSITIVE_TEST_CURRENT_FOR_DAYS:
        found.append(InputUsed("pregnancy test", "positive", test.when, test.original))
    return tuple(found)
