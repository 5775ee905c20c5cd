"""Trust signals and warning signs: every rule fires where it should and stays quiet on near misses."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from records import study
from trialfinder.models import Study
from trialfinder.trust import _phrase_pattern, assess, staleness

STEM_CELLS = [{"type": "BIOLOGICAL", "name": "Autologous adipose-derived stem cells", "description": "Injection"}]


def record(**changes):
    r = study(
        "NCT01000001",
        **{
            k: v
            for k, v in changes.items()
            if k in ("title", "summary", "phases", "interventions", "sponsor", "conditions", "criteria", "study_type")
        },
    )
    ps = r["protocolSection"]
    if "design" in changes:
        ps["designModule"]["designInfo"] = changes["design"]
    if "oversight" in changes:
        ps["oversightModule"] = changes["oversight"]
    if "description" in changes:
        ps["descriptionModule"]["detailedDescription"] = changes["description"]
    if "branches" in changes:
        r["derivedSection"]["conditionBrowseModule"]["browseBranches"] = [
            {"abbrev": b[:4], "name": b} for b in changes["branches"]
        ]
    if "verified" in changes:
        ps["statusModule"]["statusVerifiedDate"] = changes["verified"]
    return r


def warnings(**changes):
    return [w.name for w in assess(Study.from_record(record(**changes))).warnings]


CLINIC = ("Regenerative Stem Cell Clinic", "OTHER")
NO_OVERSIGHT = {"oversightHasDmc": False, "isFdaRegulatedDrug": False, "isFdaRegulatedDevice": False}
SINGLE_ARM = {"allocation": "NA", "interventionModel": "SINGLE_GROUP", "maskingInfo": {"masking": "NONE"}}


# -- participant pays ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "This is a patient-funded study of stem cells.",
        "This patient funded trial aims to study safety.",
        "An open-label, patient sponsored study of SVF cells.",
        "The study is self-funded by participants.",
        "Partially patient funded.",
        "Patients will pay for procedures, and no randomization will occur.",
        "Participants are responsible for the cost of the cell treatment.",
        "The treatment is provided at the patient's expense.",
        "Willing to buy the supplement for $30 before the first visit.",
        "Participants must purchase the study device.",
        "The price of the program, $645, covers weekly education sessions.",
        "Costs are charged to participants.",
        "Patients are charged for the treatment.",
        "The cost of the stem cell therapy is not covered by insurance and must be paid by the patient.",
        "Participants must pay for their own treatment.",
        "Subjects will be responsible for all costs associated with the procedure.",
        "Treatment is self-financed by the patient.",
        "The patient bears the cost of the procedure.",
        "There is a cost to participate in this study.",
        "Participants pay $7,500 for the treatment program.",
        "Injections will not be reimbursed; patients pay for each session.",
    ],
)
def test_participant_pays_fires(text):
    assert "participant_pays" in warnings(description=text)


@pytest.mark.parametrize(
    "text",
    [
        "The study does not cover the cost of standard care, which will be billed to insurance.",
        "All subjects would not pay any cost for this treatment.",
        "Study drug is provided free of charge; participants will be reimbursed for travel.",
        "We will evaluate the cost-effectiveness of the intervention.",
        "PDE5 inhibitors are often used but are costly.",
        "Endoscopic surgery has less trauma and less cost.",
        "There is no cost to participants for study visits.",
        "Participants will be compensated for their time.",
        "The study will buy the devices for all sites.",
        "The price of the treatment is covered by the study.",
        "Participants will handle their own food preparation and purchases.",
        "Subjects must be willing to comply with all study visits.",
        "Participants must pay attention to the instructions on the screen.",
        "The cost of the study drug is paid by the patient's insurance.",
        "Patients pay nothing: the procedure is provided at no cost.",
        "Routine care costs are charged to patients' insurance as usual.",
        "Participants are charged no fee and are compensated for travel.",
    ],
)
def test_ordinary_cost_wording_does_not(text):
    assert "participant_pays" not in warnings(description=text)


def test_evidence_names_the_field_and_the_sentence():
    trust = assess(Study.from_record(record(description="Background. Patients will pay for procedures. More.")))
    (finding,) = trust.warnings
    assert finding.evidence == 'detailedDescription: "Patients will pay for procedures."'


# -- cell products from private clinics and individuals ----------------------------------------


def test_unregulated_cell_product_from_a_clinic():
    fired = warnings(interventions=STEM_CELLS, sponsor=CLINIC, phases=("NA",), oversight=NO_OVERSIGHT)
    assert "unregulated_cell_product" in fired


@pytest.mark.parametrize(
    "changes",
    [
        {"phases": ("PHASE2",)},  # a phased trial
        {"oversight": {**NO_OVERSIGHT, "oversightHasDmc": True}},  # a monitoring committee
        {"oversight": {**NO_OVERSIGHT, "isFdaRegulatedDrug": True}},  # FDA oversight
        {"sponsor": ("University Hospital Zurich", "OTHER")},  # an institution
        {"sponsor": ("Mayo Clinic", "OTHER")},  # a clinic by name, an institution in fact
        {"interventions": [{"type": "DRUG", "name": "Baclofen"}]},  # not a cell product
    ],
)
def test_unregulated_cell_product_stays_quiet_when_any_part_is_missing(changes):
    base = {"interventions": STEM_CELLS, "sponsor": CLINIC, "phases": ("NA",), "oversight": NO_OVERSIGHT}
    assert "unregulated_cell_product" not in warnings(**{**base, **changes})


def test_an_individual_as_sponsor():
    fired = warnings(
        interventions=STEM_CELLS, sponsor=("Jane Q. Doe, M.D.", "OTHER"), phases=None, oversight=NO_OVERSIGHT
    )
    assert "unregulated_cell_product" in fired
    assert "unregulated_cell_product" in warnings(
        interventions=STEM_CELLS, sponsor=("Someone", "INDIV"), phases=("NA",), oversight=NO_OVERSIGHT
    )


# -- one product, many unrelated conditions --------------------------------------------------------


def test_many_unrelated_conditions():
    many = {
        "interventions": STEM_CELLS,
        "conditions": ("Autism", "Heart Failure", "Osteoarthritis", "Multiple Sclerosis", "Erectile Dysfunction"),
        "branches": [
            "Behaviors and Mental Disorders",
            "Heart and Blood Diseases",
            "Musculoskeletal Diseases",
            "Nervous System Diseases",
            "Urinary Tract, Sexual Organs, and Pregnancy Conditions",
        ],
    }
    assert "many_unrelated_conditions" in warnings(**many)
    # the same spread for a drug (a basket trial) is not this warning
    assert "many_unrelated_conditions" not in warnings(
        **{**many, "interventions": [{"type": "DRUG", "name": "Drug X"}]}
    )
    # a few related conditions are not "many unrelated"
    assert "many_unrelated_conditions" not in warnings(
        **{**many, "branches": ["Nervous System Diseases", "Wounds and Injuries"]}
    )


# -- single arm, unmasked -----------------------------------------------------------------------------


def test_single_arm_unmasked_cell_product():
    assert "single_arm_unmasked_cell_product" in warnings(interventions=STEM_CELLS, design=SINGLE_ARM, phases=("NA",))
    assert "single_arm_unmasked_cell_product" in warnings(interventions=STEM_CELLS, design=SINGLE_ARM, sponsor=CLINIC)
    # an institution's phase 1 safety study is single-arm by nature: not flagged
    academic = {
        "interventions": STEM_CELLS,
        "design": SINGLE_ARM,
        "phases": ("PHASE1",),
        "sponsor": ("Inserm", "OTHER_GOV"),
    }
    assert "single_arm_unmasked_cell_product" not in warnings(**academic)
    # randomised and blinded: not flagged
    rct = {"allocation": "RANDOMIZED", "interventionModel": "PARALLEL", "maskingInfo": {"masking": "DOUBLE"}}
    assert "single_arm_unmasked_cell_product" not in warnings(interventions=STEM_CELLS, design=rct, phases=("NA",))


# -- expanded access -----------------------------------------------------------------------------------


def test_commercial_expanded_access():
    assert "commercial_expanded_access" in warnings(study_type="EXPANDED_ACCESS", sponsor=CLINIC, phases=None)
    assert "commercial_expanded_access" not in warnings(
        study_type="EXPANDED_ACCESS", sponsor=("Novartis", "INDUSTRY"), phases=None
    )


# -- signals -------------------------------------------------------------------------------------------


def test_design_and_oversight_signals_with_evidence():
    trust = assess(Study.from_record(study()))
    names = trust.names()
    assert {"interventional", "phase_2", "randomized", "masked", "data_monitoring_committee", "sponsor_other"} <= set(
        names
    )
    masked = next(s for s in trust.signals if s.name == "masked")
    assert masked.evidence == "designInfo.maskingInfo.masking: DOUBLE"
    assert trust.warnings == []


@pytest.mark.parametrize(
    ("status", "verified", "expected"),
    [
        ("RECRUITING", "2026-05", "status_verified_recently"),
        ("RECRUITING", "2023-01", "status_stale"),
        ("UNKNOWN", "2026-05", "status_stale"),
        ("RECRUITING", None, "status_stale"),
    ],
)
def test_stale_status(status, verified, expected):
    assert staleness(status, verified, dt.date(2026, 11, 22)).name == expected


def test_trust_round_trips_for_the_cache():
    from trialfinder.trust import Trust

    trust = assess(Study.from_record(record(description="Patients will pay for procedures.")))
    again = Trust.from_json_data(json.loads(json.dumps(trust.to_json_data())))
    assert again.to_dict() == trust.to_dict()


def test_phrase_tree_matches_like_a_list_of_phrases():
    """Phrases that share words, or where one phrase goes on from another, match whole and longest first."""
    pattern = _phrase_pattern(["self pay", "self pay for care", "self funded", "pay a fee"])
    found = lambda text: [m.group(0) for m in pattern.finditer(text)]  # noqa: E731
    assert found("self pay.") == ["self pay"]
    assert found("self-pay for care, then self  funded") == ["self-pay for care", "self  funded"]
    assert found("they self pay for travel") == ["self pay"]
    assert found("selfpay, myself pay, self payment, pay a fees") == []
    assert found("to pay a fee") == ["pay a fee"]
