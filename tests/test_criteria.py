"""The criteria parser on small hand-written texts: every phrasing the matcher must read."""

from __future__ import annotations

import pytest

from trialfinder.match.criteria import PARSER_VERSION, Parsed, parse
from trialfinder.match.sections import split

DAY, WEEK, MONTH, YEAR = 1.0, 7.0, 30.4375, 365.25


def facts(text: str, kind: str, section: str = "inclusion"):
    header = "Inclusion Criteria:" if section == "inclusion" else "Exclusion Criteria:"
    parsed = parse(f"{header}\n\n* {text}")
    return [f for c in parsed.criteria for f in c.facts if f.kind == kind]


def one(text: str, kind: str, section: str = "inclusion"):
    found = facts(text, kind, section)
    assert len(found) == 1, found
    return found[0]


# -- sections ---------------------------------------------------------------------


def test_sections_groups_nesting_and_escapes():
    text = """Inclusion Criteria:

* Age \\>= 18 years
* Able to do one of the following:
  * walk 10 m
  * stand for 1 minute

Inclusion criteria for healthy controls:

* Age 20-30 years

Exclusion Criteria:

1. Pregnancy
2. Weight \\< 40 kg"""
    lines = split(text)
    assert [(ln.section, ln.depth) for ln in lines] == [
        ("inclusion", 0),
        ("inclusion", 0),
        ("inclusion", 1),
        ("inclusion", 1),
        ("inclusion", 0),
        ("exclusion", 0),
        ("exclusion", 0),
    ]
    assert lines[0].text == "Age >= 18 years"
    assert lines[2].alternative and lines[3].alternative
    assert lines[4].group == "for healthy controls"
    assert lines[6].text == "Weight < 40 kg"
    parsed = parse(text)
    assert parsed.criteria[4].scope == "healthy"
    assert parsed.criteria[0].scope == "patient"


def test_group_lines_and_wrapped_bullets():
    text = """Inclusion Criteria:

Patients:

* Traumatic spinal cord injury
  sustained at least 12 months ago

Healthy volunteers:

* No neurological disease

Exclusion Criteria:

* Pregnancy"""
    parsed = parse(text)
    assert [c.scope for c in parsed.criteria] == ["patient", "healthy", "patient"]
    assert parsed.criteria[0].text == "Traumatic spinal cord injury sustained at least 12 months ago"
    assert one("Traumatic spinal cord injury sustained at least 12 months ago", "time").low == 12 * MONTH


def test_text_without_headers_is_unknown_section():
    parsed = parse("Adults with chronic stroke\nNo pacemaker")
    assert {c.section for c in parsed.criteria} == {"unknown"}
    assert not parsed.has_headers


def test_a_sentence_starting_with_inclusion_is_not_a_header():
    lines = split("Exclusion Criteria:\n\nInclusion in another trial within 30 days")
    assert lines[0].section == "exclusion" and lines[0].text.startswith("Inclusion in another")


def test_round_trip_through_json():
    parsed = parse("Inclusion Criteria:\n\n* Men aged 18-45 with SCI at least 6 months post-injury, AIS A-C")
    again = Parsed.from_json(parsed.to_json())
    assert again.to_json() == parsed.to_json()
    assert again.version == PARSER_VERSION


# -- time since injury or onset -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "low", "high", "event"),
    [
        ("At least 12 months post-injury", 12 * MONTH, None, "injury"),
        ("Within 72 hours of injury", None, 72 / 24, "injury"),
        ("Injury time less than six months", None, 6 * MONTH, "injury"),
        ("Between 2 weeks and 6 months after stroke", 2 * WEEK, 6 * MONTH, "stroke"),
        ("Chronic SCI (≥1 year post injury)", YEAR, None, "injury"),
        ("Chronic stroke (> 12 months)", 12 * MONTH, None, "stroke"),
        ("Chronic (> 12 months) paraplegia", 12 * MONTH, None, "onset"),
        (
            "Stable spinal cord injury, which occurred at least 6 months prior to study enrolment",
            6 * MONTH,
            None,
            "injury",
        ),
        ("First-ever stroke 3 to 24 months before enrollment", 3 * MONTH, 24 * MONTH, "stroke"),
        ("Injury must have occurred 6 months before the start of the study", 6 * MONTH, None, "injury"),
        ("Time since injury of more than twelve (12) months", 12 * MONTH, None, "injury"),
        ("SCI sustained within the past 30 days", None, 30 * DAY, "sci"),
        ("Onset of symptoms no more than 4.5 hours before treatment", None, 4.5 / 24, "onset"),
        ("Diagnosed with MS at least 1 year ago", YEAR, None, "diagnosed"),
    ],
)
def test_time_since_phrasings(text, low, high, event):
    fact = one(text, "time")
    assert fact.low == pytest.approx(low) if low is not None else fact.low is None
    assert fact.high == pytest.approx(high) if high is not None else fact.high is None
    assert fact.event == event


def test_strict_and_inclusive_bounds_are_kept_apart():
    assert one("More than 6 months post-injury", "time").low_strict
    assert not one("At least 6 months post-injury", "time").low_strict
    assert one("Less than 6 months since injury", "time").high_strict
    assert not one("Within 6 months of injury", "time").high_strict


@pytest.mark.parametrize(
    "text",
    [
        "On a stable dose of baclofen for at least 3 months",
        "Botulinum toxin injection within the last 3 months",
        "History of myocardial infarction within 90 days",
        "Radiotherapy for bone lesions within 2 weeks before enrolment",
        "Participation in another trial within 30 days",
        "Seizure in the past 6 months",
    ],
)
def test_durations_about_something_else_are_not_time_since_onset(text):
    assert facts(text, "time") == []
    assert facts(text, "time", "exclusion") == []


@pytest.mark.parametrize(
    ("text", "phase"),
    [
        ("Chronic spinal cord injury", "chronic"),
        ("Acute stroke", "acute"),
        ("Subacute stroke patients", "subacute"),
        ("Patients in the chronic phase of stroke", "chronic"),
        ("Sub-acute SCI", "subacute"),
    ],
)
def test_phase_words_without_numbers(text, phase):
    fact = one(text, "time")
    assert fact.phase == phase and fact.low is None and fact.high is None


@pytest.mark.parametrize("text", ["Chronic pain", "Acute illness at screening", "Chronic kidney disease"])
def test_phase_words_about_other_things_are_ignored(text):
    assert facts(text, "time") == []


def test_exclusion_of_recent_stroke_or_sci_names_both_conditions_and_the_window():
    found = parse("Exclusion Criteria:\n\n* Stroke or spinal cord injury within the last 6 months").criteria[0].facts
    time = [f for f in found if f.kind == "time"]
    assert len(time) == 1 and time[0].high == pytest.approx(6 * MONTH)
    assert sorted(v for f in found if f.kind == "condition" for v in f.values) == ["spinal_cord_injury", "stroke"]


def test_a_time_criterion_that_cannot_be_read_is_flagged():
    parsed = parse("Inclusion Criteria:\n\n* Injury occurring roughly several months after the index surgery 2 times")
    assert "time_since_onset" in parsed.criteria[0].unread or parsed.criteria[0].facts == []


# -- ages and sex ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("Aged 18 to 65 years", 18 * YEAR, 66 * YEAR),
        ("18 years of age or older", 18 * YEAR, None),
        ("Age ≥ 18 years", 18 * YEAR, None),
        ("Between 18 and 75 years of age", 18 * YEAR, 76 * YEAR),
        ("Adults aged 18+ years", 18 * YEAR, None),
        ("Age 5-17 years old", 5 * YEAR, 18 * YEAR),
        ("Men between the age of 18 to 45 years old", 18 * YEAR, 46 * YEAR),
        ("Age under 65 years", None, 65 * YEAR),
    ],
)
def test_age_phrasings(text, low, high):
    fact = one(text, "age")
    assert fact.low == pytest.approx(low) if low is not None else fact.low is None
    assert fact.high == pytest.approx(high) if high is not None else fact.high is None


def test_ages_of_other_people_and_durations_are_not_the_patients_age():
    assert facts("Caregiver aged 18 years or older", "age") == []
    assert facts("Aged 18-65 years with injury more than 12 months ago", "age")[0].high == pytest.approx(66 * YEAR)
    assert len(facts("Aged 18-65 years with injury more than 12 months ago", "age")) == 1


def test_sex_restrictions_and_rules_for_one_sex():
    assert one("Men with stable spinal cord injury", "sex").values == ["male"]
    assert one("Women aged 40 to 70", "sex").values == ["female"]
    assert facts("Men and women aged 18 or older", "sex") == []
    assert facts("Women of childbearing potential must use contraception", "sex") == []
    assert facts("Female patients of childbearing age must have a negative pregnancy test", "sex") == []
    assert facts("Pregnant women", "sex", "exclusion") == []


# -- severity -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "grades"),
    [
        ("AIS A-C", ["A", "B", "C"]),
        ("AIS A–C", ["A", "B", "C"]),
        ("ASIA B or C", ["B", "C"]),
        ("AIS grade A, B, or C", ["A", "B", "C"]),
        ("ASIA Impairment Scale (AIS) grade A to D", ["A", "B", "C", "D"]),
        ("Complete spinal cord injury (ASIA-A)", ["A"]),
        ("Motor complete SCI", ["A", "B"]),
        ("Motor incomplete spinal cord injury", ["C", "D"]),
        ("Incomplete SCI", ["B", "C", "D"]),
    ],
)
def test_ais_grades(text, grades):
    assert one(text, "ais").values == grades


def test_complete_in_other_senses_is_not_a_grade():
    assert facts("Able to complete the questionnaires", "ais") == []
    assert facts("Completed rehabilitation after injury", "ais") == []


@pytest.mark.parametrize(
    ("text", "top", "bottom"),
    [
        ("Neurological level of injury C4-T12", "C4", "T12"),
        ("Injury between C-4 and T-6", "C4", "T6"),
        ("Lesion at or above T6", "C1", "T6"),
        ("Injury level above T6", "C1", "T5"),
        ("SCI below T10", "T11", "S5"),
        ("Spinal cord lesion at T6 or above", "C1", "T6"),
        ("Cervical spinal cord injury", "C1", "C8"),
        ("Thoracic injury", "T1", "T12"),
        ("Tetraplegia", "C1", "C8"),
        ("Supra sacral spinal cord injury", "C1", "L5"),
    ],
)
def test_neurological_levels(text, top, bottom):
    assert one(text, "level").values == [top, bottom]


@pytest.mark.parametrize(
    ("text", "levels"),
    [
        ("GMFCS level I-III", ["I", "II", "III"]),
        ("GMFCS levels 1–3", ["I", "II", "III"]),
        ("GMFCS level II or III", ["II", "III"]),
        ("Gross Motor Function Classification System (GMFCS) levels I to IV", ["I", "II", "III", "IV"]),
    ],
)
def test_gmfcs(text, levels):
    assert one(text, "gmfcs").values == levels


def test_a_severity_mention_that_cannot_be_read_is_flagged():
    parsed = parse("Inclusion Criteria:\n\n* AIS classification determined by the investigator")
    assert "severity" in parsed.criteria[0].unread


# -- conditions -----------------------------------------------------------------------


def test_condition_mentions_and_negation():
    assert one("Traumatic spinal cord injury", "condition").values == ["spinal_cord_injury"]
    assert not one("Traumatic spinal cord injury", "condition").negated
    assert one("No history of stroke", "condition").negated
    assert one("Any neurological disorder other than stroke", "condition", "exclusion").negated
    assert one("History of traumatic brain injury", "condition", "exclusion").values == ["traumatic_brain_injury"]


def test_parsing_is_fast_enough_for_long_adversarial_text():
    import time

    text = "Inclusion Criteria:\n\n" + "\n".join(
        ["* " + "1-2-3-" * 300, "* " + "- " * 2000, "* AIS " + "A, " * 500, "* " + "9" * 5000 + " months"]
    )
    started = time.perf_counter()
    parse(text)
    assert time.perf_counter() - started < 0.5


# -- regressions found on the held-out labelled set ---------------------------------------


@pytest.mark.parametrize(
    ("text", "high"),
    [
        ("Unstable neurological symptoms within the 4 weeks before randomization", None),
        (
            "Significant CNS injuries (including stroke and spinal cord injury) within the 6 months before Visit 1",
            6 * MONTH,
        ),
        ("Myocardial infarction, stroke or arrhythmia within the prior 6 months", 6 * MONTH),
        ("History of stroke within the 6 last months", 6 * MONTH),
    ],
)
def test_windows_before_an_event_are_maximums_not_minimums(text, high):
    found = facts(text, "time", "exclusion")
    assert all(f.low is None for f in found)
    if high is not None:
        assert [f.high for f in found] == [pytest.approx(high)]


def test_menopause_window_is_not_an_age():
    text = "Women of childbearing potential include premenopausal women and women within 2 years of menopause"
    assert facts(text, "age") == []
    assert one("Participant must be >= 18 years of age", "age").low == 18 * YEAR


def test_neurological_deficit():
    assert one("Functional neurological deficit evident during neurological exam", "deficit", "exclusion")
    assert facts("Progressive neurological deficit", "deficit", "exclusion") == []


# -- regressions found by the external TrialGPT check ----------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Subjects who have an acute or recent (within 6 months) myocardial infarction or unstable angina",
        "Acute (< 3 months) myocardial infarction",
        "Subjects with stroke and an acute or recent (within 6 months) myocardial infarction",
        "Stroke patients with a myocardial infarction within 6 months",
        "Stroke within 6 months of cardiac surgery",
        "Cancer diagnosed within 5 years",
        "Within 6 months of diagnosis of cancer",
        "Chronic (> 6 months) low back pain",
    ],
)
def test_windows_about_another_condition_are_not_time_since_onset(text):
    assert facts(text, "time") == []
    assert facts(text, "time", "exclusion") == []


def test_a_window_before_the_condition_it_belongs_to_still_counts():
    assert one("Recent (< 6 months) stroke", "time", "exclusion").event == "stroke"
    assert one("History of stroke (within 6 months) or myocardial infarction", "time", "exclusion").event == "stroke"
    assert one("Stroke within 6 months before randomisation", "time", "exclusion").event == "stroke"


@pytest.mark.parametrize(
    "text",
    [
        "Absence of other potential causes of stroke",
        "No other causes of stroke",
        "No risk factors for stroke",
        "No signs of spinal cord injury",
        "No complications of traumatic brain injury",
        "Without mimics of stroke",
        "No more than 2 strokes",
        "No hemorrhagic stroke",
    ],
)
def test_negation_of_something_about_the_condition_is_not_negating_the_condition(text):
    fact = one(text, "condition")
    assert fact.negated and fact.qualified  # conservative: never read as "no <condition>"


@pytest.mark.parametrize(
    "text", ["Other potential causes of stroke", "Risk factors for stroke", "Stroke mimics or signs of stroke"]
)
def test_mentions_about_something_else_than_having_the_condition_are_qualified(text):
    fact = one(text, "condition", "exclusion")
    assert not fact.negated and fact.qualified


def test_plain_negations_of_the_condition_stay_plain():
    for text in ["No history of stroke", "No prior stroke", "Without a known diagnosis of stroke", "No stroke or SCI"]:
        found = facts(text, "condition")
        assert found and all(f.negated and not f.qualified for f in found), (text, found)
    found = facts("Neurological disease other than stroke or spinal cord injury", "condition", "exclusion")
    assert len(found) == 2 and all(f.negated for f in found)


def test_menopause_status_does_not_hide_an_explicit_age_range():
    fact = one("Postmenopausal female, 55-75 years old", "age")
    assert (fact.low, fact.high) == (pytest.approx(55 * YEAR), pytest.approx(76 * YEAR))
    assert facts("Postmenopausal women within 2 years of menopause", "age") == []
    assert facts("Women 18-45 years old of childbearing potential must use contraception", "age") == []


@pytest.mark.parametrize(
    "text",
    [
        "Female patients have adequate birth-control method",
        "Female patients have adequate birth control method",
        "Female patients of child bearing potential",
        "Female patients who are breast feeding",
    ],
)
def test_rules_about_contraception_are_not_sex_limits_whatever_the_spelling(text):
    assert facts(text, "sex") == []
    assert facts(text.replace("patients", "patients aged 18 to 45 years"), "age") == []


@pytest.mark.parametrize(
    "text",
    [
        "Female subjects diagnosed with KD 12 years of age and older.",
        "Stroke patients aged 18 years and older",
        "Patients with spinal cord injury, 18 years old or older",
        "Diagnosed with MS, aged 18 to 60 years",
    ],
)
def test_an_age_is_not_also_a_time_since_onset(text):
    assert facts(text, "time") == []
    assert len(facts(text, "age")) == 1


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("age between 18 and 65", 18 * YEAR, 66 * YEAR),
        ("Age 18-65", 18 * YEAR, 66 * YEAR),
        ("Age >= 18", 18 * YEAR, None),
        ("Age 18+", 18 * YEAR, None),
        ("aged 18-90, both sexes", 18 * YEAR, 91 * YEAR),
        ("Age: 40 to 75", 40 * YEAR, 76 * YEAR),
        ("Age < 80", None, 80 * YEAR),
        ("Aged 18 or older", 18 * YEAR, None),
        ("Age ≥ 18 and ≤ 75", 18 * YEAR, 76 * YEAR),
    ],
)
def test_ages_without_a_unit_when_age_introduces_the_numbers(text, low, high):
    fact = one(text, "age")
    assert fact.low == pytest.approx(low) if low is not None else fact.low is None
    assert fact.high == pytest.approx(high) if high is not None else fact.high is None


@pytest.mark.parametrize(
    "text",
    [
        "Age 18-65 kg",
        "Gestational age 28-32",
        "Bone age 10-14",
        "Age-adjusted score 3-5 points",
        "Aged 18 - 30 %",
        "Mental age 6-12",
        "Caregiver age 18-65",
        "Age 18-65 score on the scale",
    ],
)
def test_unitless_numbers_near_age_that_are_not_the_patients_age_in_years(text):
    assert facts(text, "age") == []


def test_unitless_age_keeps_other_units_apart():
    assert one("Age 2-5 months", "age").high == pytest.approx(6 * MONTH)  # read with its own unit
    assert one("Age > 50 and BMI 18-30", "age").low == pytest.approx(50 * YEAR)


# -- headers in the middle of a line (a misreading found on real records) ------------------------


def test_exclusion_header_at_the_end_of_a_bullet_starts_the_exclusions():
    text = (
        "Inclusion Criteria:\n\n* Adults aged 30 to 70\n* Lives with a partner Exclusion Criteria:\n"
        "* Heart attack or stroke within the past 3 months\n* Takes nitrates"
    )
    lines = split(text)
    assert [(ln.section, ln.text) for ln in lines] == [
        ("inclusion", "Adults aged 30 to 70"),
        ("inclusion", "Lives with a partner"),
        ("exclusion", "Heart attack or stroke within the past 3 months"),
        ("exclusion", "Takes nitrates"),
    ]


def test_headers_run_on_after_bullets_in_one_line():
    text = "Inclusion Criteria:- Women aged 40 or older- Able to walk Exclusion Criteria:- Pregnancy- Active cancer"
    lines = split(text)
    assert [(ln.section, ln.text) for ln in lines] == [
        ("inclusion", "Women aged 40 or older- Able to walk"),
        ("exclusion", "Pregnancy- Active cancer"),
    ]
    dotted = split("Inclusion Criteria: adults. Exclusion Criteria:• Pregnant women")
    assert [(ln.section, ln.text) for ln in dotted] == [("inclusion", "adults."), ("exclusion", "Pregnant women")]


@pytest.mark.parametrize(
    "criterion",
    [
        "Subject meets none of the exclusion criteria",
        "Other Exclusion Criteria apply according to the product label",
        "Must not meet any of the Exclusion Criteria: see the protocol",
        "Agrees to the Inclusion Criteria of the main study",
    ],
)
def test_a_sentence_that_mentions_the_criteria_is_not_a_header(criterion):
    lines = split(f"Inclusion Criteria:\n\n* Adults\n* {criterion}")
    assert [ln.section for ln in lines] == ["inclusion", "inclusion"]
    assert lines[1].text == criterion


def test_other_header_forms_start_their_section():
    text = (
        "1. Inclusion Criteria\n\n* Adults\n\nNon-inclusion criteria:\n\n* Age over 80 years\n\n"
        "Partner Inclusion Criteria:\n\n* Women aged 18 or older\n\nStudy Exclusion Criteria. Pregnancy. Dementia.\n\n"
        "Intraoperative Exclusion Criteria:\n\n* Dural tear"
    )
    lines = split(text)
    assert [(ln.section, ln.group, ln.text) for ln in lines] == [
        ("inclusion", None, "Adults"),
        ("exclusion", None, "Age over 80 years"),
        ("inclusion", "Partner", "Women aged 18 or older"),
        ("exclusion", None, "Pregnancy. Dementia."),
        ("exclusion", "Intraoperative", "Dural tear"),
    ]
    assert parse(text).criteria[2].scope == "other"


# -- a window written "in last 6 months" ----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["History of in last 3 months stroke or angina", "Stroke during last 3 months", "Stroke within last 3 months"],
)
def test_window_without_the_article(text):
    fact = one(text, "time", "exclusion")
    assert (fact.event, fact.low, fact.high) == ("stroke", None, pytest.approx(3 * MONTH))


# -- vertebral, disc and surgical levels are not neurological levels ---------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Degenerative disc disease at one or two levels (L4-L5 or L5-S1)",
        "Spinal stenosis with a surgical level of L3-S1",
        "No osteophytes in the lumbar segment to be treated",
        "Previous surgery in the cervical region",
        "Fusion of one vertebral level between T10 and L2",
        "Herniated disc at L5/S1 or above L3",
    ],
)
def test_spinal_levels_that_are_not_the_level_of_injury_are_not_read(text):
    parsed = parse(f"Inclusion Criteria:\n\n* {text}")
    assert facts(text, "level") == []
    assert parsed.criteria[0].unread == []  # nothing about the patient's neurological level to ask


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("Neurological level of injury C5-T1", ["C5", "T1"]),
        ("SCI at or above T6", ["C1", "T6"]),
        ("Traumatic cervical spinal cord injury", ["C1", "C8"]),
        ("Chronic incomplete SCI, lesion level between T2 and T12", ["T2", "T12"]),
        ("Paraplegia", ["T1", "S5"]),
    ],
)
def test_levels_of_injury_are_still_read(text, values):
    assert one(text, "level").values == values


@pytest.mark.parametrize(
    "text", ["Spinal cord injury with fusion surgery at T10-L2", "Prior trauma to the C3 to C7 levels with bony injury"]
)
def test_level_of_injury_mixed_with_a_surgical_level_is_asked_about(text):
    parsed = parse(f"Inclusion Criteria:\n\n* {text}")
    assert [f for f in parsed.criteria[0].facts if f.kind == "level"] == []
    assert "severity" in parsed.criteria[0].unread


# -- neurological deficits -------------------------------------------------------------------------


def test_severe_deficit_is_read_and_negated_deficits_are_not():
    severe = one("Progressive deficits or severe neurological deficits", "deficit", "exclusion")
    assert severe.values == ["severe"]
    for text in (
        "No neurological deficit",
        "Cervical fusion allowed if there are no neurologic deficits in the legs",
        "Back pain with or without neurologic deficit",
        "Neurological deficit other than from the spinal cord injury",
    ):
        assert facts(text, "deficit", "exclusion") == [], text
    assert one("Neurological deficit other than Parkinson's disease", "deficit", "exclusion").values == []


# -- age ranges with a limit on each side -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "low", "low_strict", "high"),
    [
        ("Age \\>= 18 years and \\< 65 years", 18 * YEAR, False, 65 * YEAR),
        ("18 years ≤ age ≤ 65 years", 18 * YEAR, False, 66 * YEAR),
        ("Men ≥ 40 and ≤ 75 years old", 40 * YEAR, False, 76 * YEAR),
        ("Women between \\>25 and \\<70 years of age", 25 * YEAR, True, 70 * YEAR),
        ("Adults ≥ 21 years and ≤ 60 years;", 21 * YEAR, False, 61 * YEAR),
        ("age between \\>18 and \\<60 years", 18 * YEAR, True, 60 * YEAR),
        ("age between \\>18 and \\<60", 18 * YEAR, True, 60 * YEAR),
        ("20 ≤ age ≤ 50", 20 * YEAR, False, 51 * YEAR),
        ("70 > age > 30", 30 * YEAR, True, 70 * YEAR),
    ],
)
def test_two_sided_age_ranges_keep_both_limits(text, low, low_strict, high):
    fact = one(text, "age")
    assert fact.low == pytest.approx(low) and fact.low_strict is low_strict
    assert fact.high == pytest.approx(high) and fact.high_strict


def test_gestational_age_with_a_unit_is_not_the_patients_age():
    assert [f.high for f in facts("Children under 28 days of age, gestational age > 37 weeks", "age")] == [
        pytest.approx(28 * DAY)
    ]


def test_parser_version_is_bumped_for_these_readings():
    assert PARSER_VERSION >= 3
