"""Teratogenicity precautions (guideline: Infection and teratogenicity).

"Complete abstinence or contraception must be used by female patients of childbearing
potential, and male patients must practice complete abstinence or use condoms throughout the
treatment duration, including dose interruptions, and for 1 week after treatment
discontinuation if their partner is pregnant or is of childbearing potential and does not use
contraception."

Order hooks (a lenalidomide draft): R-TERATO-F for a woman of childbearing potential, R-TERATO-M
for a man. Any hook, for a patient on or being prescribed lenalidomide: evidence of pregnancy is
critical (lenalidomide contraindicated). On patient-view only that critical card is shown: the
precautions belong to prescribing.
"""

from __future__ import annotations

from datetime import date

from rules.catalogue import rule
from rules.model import (
    Evaluation,
    InputUsed,
    OrdersUnderReview,
    PatientSnapshot,
    Recommendation,
)
from rules.treatment_course import on_lenalidomide

SECTION = rule("R-TERATO-F").section  # "Infection and teratogenicity"

# R-TERATO-F: childbearing potential = female, age < 50, "unless documented otherwise". The
# snapshot carries no menopause or hysterectomy category, so age is the only evidence.
CHILDBEARING_AGE_BELOW = 50
# R-TERATO-F: pregnancy status observation (LOINC 82810-3) value 1 = pregnant.
PREGNANT_VALUE = 1.0
# R-TERATO-F: the latest pregnancy test positive is taken as a current pregnancy for 280 days
# (40 weeks, a term pregnancy) — the service's choice; a later negative test replaces it.
POSITIVE_TEST_CURRENT_FOR_DAYS = 280
# R-TERATO-M: "for 1 week after treatment discontinuation".
MALE_PRECAUTION_AFTER_DAYS = 7

QUOTE = (
    'Guideline (*Infection and teratogenicity*): "Complete abstinence or contraception must be '
    "used by female patients of childbearing potential, and male patients must practice "
    "complete abstinence or use condoms throughout the treatment duration, including dose "
    "interruptions, and for 1 week after treatment discontinuation if their partner is "
    'pregnant or is of childbearing potential and does not use contraception."'
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
        return [Recommendation(
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
        )]
    if view:
        return []
    age = snapshot.age_on(evaluation.today)
    test = snapshot.pregnancy_test
    test_result = "positive" if test is not None and test.value == PREGNANT_VALUE else "negative"
    test_inputs = (InputUsed("pregnancy test", test_result, test.when),) if test is not None else ()
    if snapshot.sex == "female":
        if age is not None and age >= CHILDBEARING_AGE_BELOW:
            return []
        who = f"Woman aged {age}" if age is not None else "Woman of unrecorded age (taken as of childbearing potential)"
        last_test = (f"Latest pregnancy test: {test_result} on {test.when.isoformat()}."
                     if test is not None else "No pregnancy test on record.")
        return [Recommendation(
            rule_ids=("R-TERATO-F",),
            concern="teratogenicity",
            severity="warning",
            summary="Lenalidomide is teratogenic: exclude pregnancy; abstinence or contraception throughout, incl. interruptions",
            rationale=(
                f"{who}: of childbearing potential unless documented otherwise. {last_test}",
                "Pregnancy must be excluded before lenalidomide is given, and complete abstinence "
                "or contraception used throughout treatment, including dose interruptions.",
                QUOTE,
            ),
            section=SECTION,
            inputs=(InputUsed("sex", "female"),) + ((InputUsed("age", f"{age} years"),) if age is not None else ())
            + test_inputs,
            data_needed=("pregnancy test",),
        )]
    if snapshot.sex == "male":
        return [Recommendation(
            rule_ids=("R-TERATO-M",),
            concern="teratogenicity",
            severity="info",
            summary=f"Lenalidomide: condoms or abstinence during treatment and {MALE_PRECAUTION_AFTER_DAYS} days after if the partner could become pregnant",
            rationale=(
                "Lenalidomide is found in semen (< 0.01 % of the dose). Male patients must use "
                "condoms or abstain throughout treatment, including interruptions, and for 1 week "
                "after stopping, if the partner is pregnant or of childbearing potential without "
                "contraception.",
                QUOTE,
            ),
            section=SECTION,
            inputs=(InputUsed("sex", "male"),),
        )]
    return [Recommendation(
        rule_ids=("R-TERATO-F", "R-TERATO-M"),
        concern="teratogenicity",
        severity="info",
        summary="Sex not recorded: confirm lenalidomide pregnancy exclusion and contraception precautions",
        rationale=(
            f"Sex is recorded as '{snapshot.sex or 'not recorded'}', so the precautions for women of "
            "childbearing potential (pregnancy excluded; abstinence or contraception) or for men "
            "(condoms or abstinence) cannot be chosen.",
            QUOTE,
        ),
        section=SECTION,
        data_needed=("sex",),
    )]


def _pregnancy_evidence(snapshot: PatientSnapshot, today: date) -> tuple[InputUsed, ...]:
    found = [InputUsed("pregnancy", c.display or "pregnancy (problem list)", c.onset or c.recorded)
             for c in snapshot.conditions_in("pregnancy") if c.active]
    test = snapshot.pregnancy_test
    if (test is not None and test.value == PREGNANT_VALUE
            and (today - test.when).days <= POSITIVE_TEST_CURRENT_FOR_DAYS):
        found.append(InputUsed("pregnancy test", "positive", test.when, test.original))
    return tuple(found)
