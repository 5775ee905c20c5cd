"""Verdicts on hand-written trials: each rule in both directions, and the safety rules that keep doubt "uncertain"."""

from __future__ import annotations

import pytest

from records import site, study
from trialfinder.ingest import save_batch
from trialfinder.match import criteria as criteria_module
from trialfinder.matcher import candidate_expression, explain, match, reparse_stale
from trialfinder.profiles import build

AS_OF = "2026-11-22"


def profile(**fields):
    return build({"conditions": ["spinal cord injury"], "as_of": AS_OF, **fields})


def trial(cache, criteria="Inclusion Criteria:\n\n* Adults", **kwargs):
    record = study(kwargs.pop("nct_id", "NCT01000001"), criteria=criteria, **kwargs)
    save_batch(cache, [("t", record)])
    return record["protocolSection"]["identificationModule"]["nctId"]


def verdict(cache, nct, p):
    return explain(cache, p, nct)


def reason_for(result, kind):
    return [r for r in result.reasons if r.criterion == kind]


# -- structured fields ----------------------------------------------------------------


def test_registry_age_limits_are_inclusive_to_the_next_birthday(cache):
    nct = trial(cache, min_age="18 Years", max_age="45 Years")
    assert verdict(cache, nct, profile(age=45)).verdict == "eligible"
    result = verdict(cache, nct, profile(age=46))
    assert result.verdict == "ineligible"
    assert "you are 46" in result.summary and reason_for(result, "age")[0].source.startswith("registry")
    assert verdict(cache, nct, profile(age=17)).verdict == "ineligible"


def test_birth_date_on_the_18th_birthday_is_18(cache):
    nct = trial(cache, min_age="18 Years")
    assert verdict(cache, nct, profile(birth_date="2008-11-22")).verdict == "eligible"
    assert verdict(cache, nct, profile(birth_date="2008-11-23")).verdict == "ineligible"


def test_missing_age_makes_an_age_limited_trial_uncertain(cache):
    nct = trial(cache, min_age="18 Years")
    result = verdict(cache, nct, profile())
    assert result.verdict == "uncertain" and "no age" in result.summary


def test_registry_sex(cache):
    nct = trial(cache, sex="MALE")
    assert verdict(cache, nct, profile(sex="female", age=30)).verdict == "ineligible"
    assert verdict(cache, nct, profile(sex="male", age=30)).verdict == "eligible"
    assert verdict(cache, nct, profile(age=30)).verdict == "uncertain"


def test_implausible_registry_age_is_uncertain_not_a_verdict(cache):
    nct = trial(cache, min_age="18 Minutes")
    result = verdict(cache, nct, profile(age=10))
    assert result.verdict == "uncertain" and "implausible" in result.summary


# -- time since injury or onset ---------------------------------------------------------


@pytest.mark.parametrize(
    ("since", "expected"),
    [("5 days", "ineligible"), ("2 years", "eligible")],
)
def test_minimum_time_since_injury(cache, since, expected):
    nct = trial(cache, "Inclusion Criteria:\n\n* At least 12 months post-injury")
    assert verdict(cache, nct, profile(age=30, time_since_onset=since)).verdict == expected


def test_within_hours_of_injury(cache):
    nct = trial(cache, "Inclusion Criteria:\n\n* Within 72 hours of injury")
    assert verdict(cache, nct, profile(age=30, time_since_onset="1 days")).verdict == "eligible"
    assert verdict(cache, nct, profile(age=30, time_since_onset="10 days")).verdict == "ineligible"
    assert verdict(cache, nct, profile(age=30)).verdict == "uncertain"


def test_boundary_of_an_imprecise_duration_is_uncertain(cache):
    nct = trial(cache, "Inclusion Criteria:\n\n* More than 18 months post-injury")
    # "18 months" means somewhere in [18, 19) months: it may or may not be more than 18.
    assert verdict(cache, nct, profile(age=30, time_since_onset="18 months")).verdict == "uncertain"


def test_phase_word_uses_condition_windows_and_their_disagreement(cache):
    nct = trial(cache, "Inclusion Criteria:\n\n* Chronic spinal cord injury")
    assert verdict(cache, nct, profile(age=30, time_since_onset="3 years")).verdict == "eligible"
    assert verdict(cache, nct, profile(age=30, time_since_onset="30 days")).verdict == "ineligible"
    # 8 months: chronic by the 6-month definition, not by the 12-month one.
    assert verdict(cache, nct, profile(age=30, time_since_onset="8 months")).verdict == "uncertain"


def test_stroke_phases(cache):
    nct = trial(cache, "Inclusion Criteria:\n\n* Subacute stroke", conditions=("Stroke",), mesh=("Stroke",))
    stroke = {"conditions": ["stroke"], "as_of": AS_OF, "age": 55}
    assert verdict(cache, nct, build({**stroke, "time_since_onset": "6 weeks"})).verdict == "eligible"
    assert verdict(cache, nct, build({**stroke, "time_since_onset": "2 years"})).verdict == "ineligible"


def test_recent_stroke_or_sci_exclusion_excludes_recent_onset_only(cache):
    nct = trial(
        cache,
        "Inclusion Criteria:\n\n* Adults with erectile dysfunction\n\n"
        "Exclusion Criteria:\n\n* Stroke or spinal cord injury within the last 6 months",
        conditions=("Erectile Dysfunction",),
        mesh=("Erectile Dysfunction",),
    )
    recent = verdict(cache, nct, profile(age=40, time_since_onset="3 months"))
    assert recent.verdict == "ineligible"
    assert recent.reasons[0].source == "Stroke or spinal cord injury within the last 6 months"
    assert verdict(cache, nct, profile(age=40, time_since_onset="2 years")).verdict != "ineligible"
    assert verdict(cache, nct, profile(age=40)).verdict == "uncertain"


# -- severity --------------------------------------------------------------------------


def test_ais_requirement(cache):
    nct = trial(cache, "Inclusion Criteria:\n\n* AIS A-C")
    assert verdict(cache, nct, profile(age=30, ais_grade="B")).verdict == "eligible"
    assert verdict(cache, nct, profile(age=30, ais_grade="D")).verdict == "ineligible"
    assert verdict(cache, nct, profile(age=30)).verdict == "uncertain"


def test_level_exclusion(cache):
    nct = trial(cache, "Inclusion Criteria:\n\n* Adults\n\nExclusion Criteria:\n\n* Spinal cord lesion at T6 or above")
    result = verdict(cache, nct, profile(age=30, neurological_level="C5"))
    assert result.verdict == "ineligible"
    assert result.reasons[0].section == "exclusion" and "T6 or above" in result.reasons[0].source
    assert verdict(cache, nct, profile(age=30, neurological_level="T10")).verdict == "eligible"


def test_gmfcs(cache):
    nct = trial(
        cache, "Inclusion Criteria:\n\n* GMFCS level I-III", conditions=("Cerebral Palsy",), mesh=("Cerebral Palsy",)
    )
    cp = {"conditions": ["cerebral palsy"], "as_of": AS_OF, "age": 20}
    assert verdict(cache, nct, build({**cp, "gmfcs_level": "II"})).verdict == "eligible"
    assert verdict(cache, nct, build({**cp, "gmfcs_level": "V"})).verdict == "ineligible"


# -- conditions ------------------------------------------------------------------------


def test_trial_about_something_else_that_excludes_the_condition(cache):
    nct = trial(
        cache,
        "Inclusion Criteria:\n\n* Men with erectile dysfunction\n\nExclusion Criteria:\n\n* Spinal cord injury",
        title="Treating erectile dysfunction",
        conditions=("Erectile Dysfunction",),
        mesh=("Erectile Dysfunction",),
    )
    assert verdict(cache, nct, profile(age=40, sex="male")).verdict == "ineligible"


def test_own_condition_excluded_without_qualifier_means_another_episode(cache):
    nct = trial(
        cache,
        "Inclusion Criteria:\n\n* First-ever stroke\n\nExclusion Criteria:\n\n* Previous stroke",
        conditions=("Stroke",),
        mesh=("Stroke",),
    )
    stroke = build({"conditions": ["stroke"], "as_of": AS_OF, "age": 60})
    assert verdict(cache, nct, stroke).verdict == "uncertain"


def test_severe_form_of_the_condition_is_uncertain(cache):
    nct = trial(
        cache,
        "Inclusion Criteria:\n\n* Adults\n\nExclusion Criteria:\n\n* Severe head injury",
        conditions=("Pain",),
        mesh=(),
    )
    tbi = build({"conditions": ["traumatic brain injury"], "as_of": AS_OF, "age": 30})
    assert verdict(cache, nct, tbi).verdict == "uncertain"


# -- safety rules: doubt stays "uncertain" -------------------------------------------------


def test_exclusion_that_states_more_than_was_read_is_uncertain(cache):
    nct = trial(
        cache,
        "Inclusion Criteria:\n\n* Children\n\n"
        "Exclusion Criteria:\n\n* Subject is 6 years or older and weighs less than 19 kg",
        min_age=None,
    )
    assert verdict(cache, nct, profile(age=8)).verdict == "uncertain"


def test_alternative_age_ranges_in_one_criterion(cache):
    nct = trial(
        cache,
        "Inclusion Criteria:\n\n* Patients >= 18 years old, except at the paediatric site >= 8 years old",
        min_age="8 Years",
    )
    assert verdict(cache, nct, profile(age=8)).verdict != "ineligible"


def test_conditional_criterion_is_not_a_requirement(cache):
    nct = trial(
        cache, "Inclusion Criteria:\n\n* Subjects aged 18 years and older must give written consent", min_age="2 Years"
    )
    assert verdict(cache, nct, profile(age=8)).verdict == "eligible"


def test_criteria_for_healthy_controls_do_not_apply(cache):
    nct = trial(
        cache, "Inclusion Criteria:\n\n* Adults\n\nInclusion criteria for healthy controls:\n\n* Age 20-30 years"
    )
    assert verdict(cache, nct, profile(age=50)).verdict == "eligible"


def test_text_only_sex_restriction_against_the_registry_is_a_question(cache):
    nct = trial(cache, "Inclusion Criteria:\n\n* Men with chronic SCI", sex="ALL")
    assert verdict(cache, nct, profile(age=40, sex="female", time_since_onset="3 years")).verdict == "uncertain"


def test_one_of_several_options_failing_is_uncertain(cache):
    nct = trial(cache, "Inclusion Criteria:\n\n* One of the following:\n  * AIS A\n  * walking 10 m")
    assert verdict(cache, nct, profile(age=30, ais_grade="D")).verdict == "uncertain"


def test_criteria_without_headers_decide_nothing(cache):
    nct = trial(cache, "AIS A only\nAge 18-65")
    assert verdict(cache, nct, profile(age=30, ais_grade="D")).verdict == "uncertain"


def test_unreadable_criterion_is_uncertain(cache):
    nct = trial(cache, "Inclusion Criteria:\n\n* AIS classification determined by the investigator")
    assert verdict(cache, nct, profile(age=30, ais_grade="A")).verdict == "uncertain"


# -- status, distance, ranking, candidates ----------------------------------------------------


def test_status_and_distance_never_change_the_verdict_but_filter_the_default_list(cache):
    trial(cache, nct_id="NCT01000001", status="COMPLETED")
    trial(cache, nct_id="NCT01000002", locations=[site(city="Lisbon", lat=38.72, lon=-9.14)])
    trial(cache, nct_id="NCT01000003", locations=[site(city="Zurich")])
    p = profile(age=30, location={"lat": 47.4, "lon": 8.5}, max_distance_km=100)
    shown = [m.nct_id for m in match(cache, p)]
    assert shown == ["NCT01000003"]
    everything = {m.nct_id: m for m in match(cache, p, include_all=True)}
    assert everything["NCT01000001"].verdict == "eligible"
    assert reason_for(everything["NCT01000001"], "status")[0].result == "not_met"
    assert reason_for(everything["NCT01000002"], "distance")[0].result == "not_met"
    assert everything["NCT01000003"].nearest_site_km < 20


def test_ranking_puts_eligible_and_near_first(cache):
    trial(cache, nct_id="NCT01000001", criteria="Inclusion Criteria:\n\n* AIS A-C")  # uncertain: no grade
    trial(cache, nct_id="NCT01000002", locations=[site(city="Lisbon", lat=38.72, lon=-9.14)])
    trial(cache, nct_id="NCT01000003", locations=[site(city="Zurich")])
    p = profile(age=30, location={"lat": 47.4, "lon": 8.5})
    order = [m.nct_id for m in match(cache, p)]
    assert order == ["NCT01000003", "NCT01000002", "NCT01000001"]
    assert [m.verdict for m in match(cache, p)] == ["eligible", "eligible", "uncertain"]


def test_synonyms_find_the_trials_and_lookalikes_are_not_candidates(cache):
    trial(cache, nct_id="NCT01000001", title="Walking after spinal cord injury")
    trial(
        cache,
        nct_id="NCT01000002",
        title="Pelvic pain",
        conditions=("Chronic Prostatitis (CP)",),
        mesh=("Prostatitis",),
    )
    trial(
        cache, nct_id="NCT01000003", title="Arm training after CVA", conditions=("Cerebrovascular Accident",), mesh=()
    )
    paralysis = build({"conditions": ["paralysis"], "as_of": AS_OF})
    assert [m.nct_id for m in match(cache, paralysis, include_all=True)] == ["NCT01000001"]
    cp = build({"conditions": ["CP"], "as_of": AS_OF})
    assert match(cache, cp, include_all=True) == []
    cva = build({"conditions": ["CVA"], "as_of": AS_OF})
    assert [m.nct_id for m in match(cache, cva, include_all=True)] == ["NCT01000003"]
    assert '"spinal cord injury"' in candidate_expression(paralysis)


def test_criteria_are_parsed_when_stored_not_when_matched(cache, monkeypatch):
    trial(cache, "Inclusion Criteria:\n\n* AIS A-C")
    monkeypatch.setattr(criteria_module, "parse", lambda text: pytest.fail("parsed again while matching"))
    assert match(cache, profile(age=30, ais_grade="B"))[0].verdict == "eligible"


def test_a_new_parser_version_reparses_stored_criteria(cache, monkeypatch):
    trial(cache, "Inclusion Criteria:\n\n* AIS A-C")
    assert reparse_stale(cache) == 0
    monkeypatch.setattr(criteria_module, "PARSER_VERSION", criteria_module.PARSER_VERSION + 1)
    assert reparse_stale(cache) == 1
    assert reparse_stale(cache) == 0


def test_changed_seed_files_redo_derived_data(cache, monkeypatch):
    from trialfinder import seeds

    trial(cache)
    monkeypatch.setattr(seeds, "fingerprint", lambda: "edited")
    assert reparse_stale(cache) == 1


def test_lasting_neurological_deficit(cache):
    nct = trial(
        cache,
        "Inclusion Criteria:\n\n* Adults\n\nExclusion Criteria:\n\n* Neurological deficit on examination",
        title="Back pain",
        conditions=("Low Back Pain",),
        mesh=(),
    )
    assert verdict(cache, nct, profile(age=30, ais_grade="D")).verdict == "ineligible"
    assert verdict(cache, nct, profile(age=30, ais_grade="E")).verdict != "ineligible"  # AIS E: no deficit
    stroke = build({"conditions": ["stroke"], "as_of": AS_OF, "age": 60})
    assert verdict(cache, nct, stroke).verdict == "uncertain"  # a stroke may leave no deficit


def test_condition_excluded_with_a_window_we_cannot_tie_to_it_is_uncertain(cache):
    nct = trial(
        cache,
        "Inclusion Criteria:\n\n* Men with erectile dysfunction\n\n"
        "Exclusion Criteria:\n\n* History of stroke, currently active",
        title="ED",
        conditions=("Erectile Dysfunction",),
        mesh=(),
    )
    stroke = build({"conditions": ["stroke"], "as_of": AS_OF, "age": 60, "sex": "male"})
    assert verdict(cache, nct, stroke).verdict == "uncertain"


# -- regressions found by the external TrialGPT check ----------------------------------------


def test_window_of_another_condition_is_not_counted_from_the_patients_stroke(cache):
    nct = trial(
        cache,
        "Inclusion Criteria:\n\n* Cryptogenic stroke\n\nExclusion Criteria:\n\n"
        "* Subjects who have an acute or recent (within 6 months) myocardial infarction or unstable angina\n"
        "* Cancer diagnosed within 5 years",
        conditions=("Stroke",),
        mesh=("Stroke",),
    )
    stroke = build({"conditions": ["stroke"], "as_of": AS_OF, "age": 60, "time_since_onset": "2 weeks"})
    result = verdict(cache, nct, stroke)
    assert result.verdict != "ineligible", result.summary
    assert not [r for r in result.reasons if r.criterion == "time_since_onset" and r.result == "not_met"]


def test_absence_of_other_causes_of_the_condition_is_not_an_exclusion_of_it(cache):
    nct = trial(
        cache,
        "Inclusion Criteria:\n\n* Absence of other potential causes of stroke",
        conditions=("Stroke",),
        mesh=("Stroke",),
    )
    stroke = build({"conditions": ["stroke"], "as_of": AS_OF, "age": 60})
    result = verdict(cache, nct, stroke)
    assert result.verdict == "uncertain"
    condition = [r for r in reason_for(result, "condition") if r.section == "inclusion"]
    assert [r.result for r in condition] == ["unknown"] and "causes of stroke" in condition[0].text
    plain = trial(cache, "Inclusion Criteria:\n\n* No history of stroke", nct_id="NCT01000002")
    assert verdict(cache, plain, stroke).verdict == "ineligible"
    elsewhere = trial(
        cache,
        "Inclusion Criteria:\n\n* Adults\n\nExclusion Criteria:\n\n* Other potential causes of stroke identified",
        nct_id="NCT01000003",
        title="Closure of patent foramen ovale",
        conditions=("Patent Foramen Ovale",),
        mesh=(),
    )
    assert verdict(cache, elsewhere, stroke).verdict == "uncertain"


def test_age_range_beside_menopause_status_and_unitless_ages_decide(cache):
    nct = trial(cache, "Inclusion Criteria:\n\n* Postmenopausal female, 55-75 years old", min_age=None)
    woman = {"conditions": ["stroke"], "as_of": AS_OF, "sex": "female"}
    assert verdict(cache, nct, build({**woman, "age": 51})).verdict == "ineligible"
    assert verdict(cache, nct, build({**woman, "age": 60})).verdict != "ineligible"
    unitless = trial(cache, "Inclusion Criteria:\n\n* Age 18-65", nct_id="NCT01000002", min_age=None)
    assert verdict(cache, unitless, build({**woman, "age": 70})).verdict == "ineligible"
    assert verdict(cache, unitless, build({**woman, "age": 65})).verdict != "ineligible"


def test_age_of_a_person_with_the_condition_is_not_time_since_it(cache):
    nct = trial(
        cache,
        "Inclusion Criteria:\n\n* Stroke patients aged 18 years and older",
        conditions=("Stroke",),
        mesh=("Stroke",),
        min_age=None,
    )
    stroke = build({"conditions": ["stroke"], "as_of": AS_OF, "age": 60, "time_since_onset": "2 weeks"})
    assert verdict(cache, nct, stroke).verdict == "eligible"


# -- misreadings found in real records ---------------------------------------------------------------

ED_TRIAL = {"title": "A new tablet for erectile dysfunction", "conditions": ("Erectile Dysfunction",), "mesh": ()}


def stroke_patient(since: str, **fields):
    patient = {"conditions": ["stroke", "erectile dysfunction"], "as_of": AS_OF, "age": 55, "sex": "male"}
    return build({**patient, "time_since_onset": since, **fields})


def test_exclusion_header_in_the_middle_of_a_line_keeps_exclusions_out_of_the_inclusions(cache):
    nct = trial(
        cache,
        "Inclusion Criteria:\n\n* Men with erectile dysfunction\n* Lives with a partner Exclusion Criteria:\n"
        "* Heart attack or stroke within the prior 3 months",
        **ED_TRIAL,
    )
    assert verdict(cache, nct, stroke_patient("2 years")).verdict != "ineligible"
    recent = verdict(cache, nct, stroke_patient("1 month"))
    assert recent.verdict == "ineligible" and recent.reasons[0].section == "exclusion"
    run_on = trial(
        cache,
        "Inclusion Criteria:- Men with erectile dysfunction- Lives with a partner Exclusion Criteria:- Low desire- "
        "Heart attack or stroke within the prior 3 months- Nitrates",
        nct_id="NCT01000002",
        **ED_TRIAL,
    )
    assert verdict(cache, run_on, stroke_patient("2 years")).verdict != "ineligible"
    assert verdict(cache, run_on, stroke_patient("1 month")).verdict == "ineligible"


def test_non_inclusion_criteria_are_exclusions(cache):
    nct = trial(cache, "Inclusion Criteria:\n\n* Adults\n\nNon-inclusion criteria:\n\n* Aged over 85 years")
    assert verdict(cache, nct, profile(age=40)).verdict != "ineligible"


@pytest.mark.parametrize(
    "criterion",
    [
        "History of in last 3 months stroke or heart failure",
        "Stroke during the last few months",
        "Stroke, past 3 months",
        "Stroke < 3 months ago",
        "Stroke in last three months",
    ],
)
def test_exclusion_of_a_recent_condition_never_excludes_an_old_one(cache, criterion):
    nct = trial(
        cache,
        f"Inclusion Criteria:\n\n* Men with erectile dysfunction\n\nExclusion Criteria:\n\n* {criterion}",
        **ED_TRIAL,
    )
    assert verdict(cache, nct, stroke_patient("2 years")).verdict != "ineligible"


def test_window_read_without_the_article_still_excludes_a_recent_condition(cache):
    nct = trial(
        cache,
        "Inclusion Criteria:\n\n* Men with erectile dysfunction\n\n"
        "Exclusion Criteria:\n\n* History of in last 3 months stroke or heart failure",
        **ED_TRIAL,
    )
    assert verdict(cache, nct, stroke_patient("1 month")).verdict == "ineligible"
    assert verdict(cache, nct, stroke_patient("2 years")).verdict == "eligible"


def test_time_words_in_another_sentence_do_not_soften_an_exclusion(cache):
    nct = trial(
        cache,
        "Inclusion Criteria:\n\n* Men with erectile dysfunction\n\n"
        "Exclusion Criteria:\n\n* Heart attack or stroke. Men who move away during the study will be withdrawn.",
        **ED_TRIAL,
    )
    assert verdict(cache, nct, stroke_patient("2 years")).verdict == "ineligible"


def test_disc_and_surgical_levels_are_not_the_patients_neurological_level(cache):
    nct = trial(
        cache,
        "Inclusion Criteria:\n\n* Disc herniation at one or two levels (L4-L5 and/or L5-S1)\n"
        "* Lumbar stenosis with a surgical level of L3-S1\n\nExclusion Criteria:\n\n* Tumours in the cervical region",
        title="Surgery for lumbar stenosis",
        conditions=("Spinal Stenosis",),
        mesh=("Spinal Stenosis",),
    )
    sci = build(
        {
            "conditions": ["spinal cord injury", "spinal stenosis"],
            "as_of": AS_OF,
            "age": 50,
            "ais_grade": "C",
            "neurological_level": "C5",
        }
    )
    result = verdict(cache, nct, sci)
    assert result.verdict != "ineligible"
    assert not [r for r in result.reasons if r.criterion == "severity"]
    injury_level = trial(cache, "Inclusion Criteria:\n\n* Spinal cord injury at or below T2", nct_id="NCT01000002")
    assert verdict(cache, injury_level, profile(age=30, neurological_level="C5")).verdict == "ineligible"


def test_onset_of_another_condition_is_not_the_patients_onset(cache):
    other = trial(
        cache,
        "Inclusion Criteria:\n\n* Sudden loss of vision with onset within 30 days before enrolment",
        title="Optic nerve disease",
        conditions=("Optic Neuropathy",),
        mesh=(),
    )
    sci = profile(age=40, time_since_onset="2 years")
    result = verdict(cache, other, sci)
    assert result.verdict == "uncertain"
    assert "another condition" in reason_for(result, "time_since_onset")[0].text
    assert verdict(cache, other, profile(age=40, time_since_onset="10 days")).verdict == "uncertain"
    # The trial about the patient's condition, or a criterion that names it, still counts from it.
    own = trial(cache, "Inclusion Criteria:\n\n* Onset within 30 days before enrolment", nct_id="NCT01000002")
    assert verdict(cache, own, sci).verdict == "ineligible"
    named = trial(
        cache,
        "Inclusion Criteria:\n\n* Spinal cord injury with onset within 30 days before enrolment",
        nct_id="NCT01000003",
        title="Optic nerve disease",
        conditions=("Optic Neuropathy",),
        mesh=(),
    )
    assert verdict(cache, named, sci).verdict == "ineligible"


def test_severe_neurological_deficit_excludes_motor_complete_injuries_only(cache):
    nct = trial(
        cache,
        "Inclusion Criteria:\n\n* Adults with back pain\n\n"
        "Exclusion Criteria:\n\n* Progressive deficits or severe neurological deficits",
        title="Back pain",
        conditions=("Low Back Pain",),
        mesh=(),
    )
    assert verdict(cache, nct, profile(age=40, ais_grade="A")).verdict == "ineligible"
    assert verdict(cache, nct, profile(age=40, ais_grade="D")).verdict == "uncertain"
    assert verdict(cache, nct, profile(age=40, ais_grade="E")).verdict == "uncertain"


def test_a_negated_deficit_in_an_exclusion_never_excludes(cache):
    nct = trial(
        cache,
        "Inclusion Criteria:\n\n* Adults\n\nExclusion Criteria:\n\n"
        "* Prior lumbar fusion. Cervical fusion is allowed as long as there are no neurologic deficits in the legs.",
    )
    assert verdict(cache, nct, profile(age=40, ais_grade="C")).verdict != "ineligible"


@pytest.mark.parametrize(
    ("criterion", "too_old", "too_young"),
    [
        ("Age \\>= 18 years and \\< 65 years", 65, 17),
        ("18 years ≤ age ≤ 65 years", 66, 17),
        ("Patients between \\>30 and \\<80 years of age", 80, 29),
        ("Adults ≥ 40 and ≤ 70 years old", 71, 39),
    ],
)
def test_both_limits_of_a_two_sided_age_range_decide(cache, criterion, too_old, too_young):
    nct = trial(cache, f"Inclusion Criteria:\n\n* {criterion}", min_age=None)
    assert verdict(cache, nct, profile(age=too_old)).verdict == "ineligible"
    assert verdict(cache, nct, profile(age=too_young)).verdict == "ineligible"
    assert verdict(cache, nct, profile(age=too_young + 5)).verdict == "eligible"


def test_an_exclusion_of_one_cohort_excludes_only_if_every_cohort_has_it(cache):
    one_cohort = trial(
        cache,
        "Cohort A inclusion criteria:\n\n* Adults\n\nCohort A exclusion criteria:\n\n* Spinal cord injury\n\n"
        "Cohort B inclusion criteria:\n\n* Adults\n\nCohort B exclusion criteria:\n\n* Pregnancy",
        title="Pelvic pain",
        conditions=("Pelvic Pain",),
        mesh=(),
    )
    assert verdict(cache, one_cohort, profile(age=40)).verdict == "uncertain"
    every_cohort = trial(
        cache,
        "Cohort A inclusion criteria:\n\n* Adults\n\nCohort A exclusion criteria:\n\n* Spinal cord injury\n\n"
        "Cohort B inclusion criteria:\n\n* Adults\n\nCohort B exclusion criteria:\n\n* Spinal cord injury",
        nct_id="NCT01000002",
        title="Pelvic pain",
        conditions=("Pelvic Pain",),
        mesh=(),
    )
    assert verdict(cache, every_cohort, profile(age=40)).verdict == "ineligible"
