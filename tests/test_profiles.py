from __future__ import annotations

import datetime as dt
import json

import pytest

from trialfinder.errors import ProfileError
from trialfinder.profiles import build, load_profile, parse_duration
from trialfinder.seeds import knowledge

YEAR, MONTH = 365.25, 30.4375


def test_toml_and_json_files_and_cli_overrides(tmp_path):
    toml = tmp_path / "p.toml"
    toml.write_text('conditions = ["stroke"]\nage = 60\nsex = "female"\nonset_date = 2025-11-22\nas_of = 2026-11-22\n')
    p = load_profile(toml)
    assert (p.age, p.sex, p.onset_date) == (60, "female", dt.date(2025, 11, 22))
    js = tmp_path / "p.json"
    js.write_text(json.dumps({"conditions": ["stroke"], "age": 60, "as_of": "2026-11-22"}))
    assert load_profile(js).age == 60
    assert load_profile(toml, age=61).age == 61  # command-line values win


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"conditions": []}, "field 'conditions': give at least one condition"),
        ({"ais_grade": "F"}, "field 'ais_grade': 'F' is not an AIS grade; use one of A, B, C, D, E"),
        ({"sex": "other"}, "field 'sex': 'other' is not allowed; use male or female"),
        ({"neurological_level": "X9"}, "field 'neurological_level': 'X9' is not a neurological level; use C1-C8"),
        ({"gmfcs_level": 7}, "field 'gmfcs_level': 7 is not a GMFCS level; use one of I, II, III, IV, V"),
        ({"injury_date": "2019-13-01"}, "field 'injury_date': '2019-13-01' is not a date; use YYYY-MM-DD"),
        ({"time_since_onset": "ages"}, "field 'time_since_onset': 'ages' is not a duration"),
        ({"phase": "late"}, "field 'phase': 'late' is not allowed"),
        ({"agee": 3}, "unknown field 'agee'; allowed fields are conditions, age"),
        ({"location": "Nowhereville"}, "field 'location': unknown place 'Nowhereville'"),
        ({"max_distance_km": 100}, "max_distance_km needs a location"),
        ({"injury_date": "2030-01-01", "as_of": "2026-01-01"}, "injury_date 2030-01-01 is after as_of"),
        ({"injury_date": "2020-01-01", "time_since_onset": "3 days"}, "give only one of injury_date"),
        ({"age": 30, "birth_date": "1960-01-01", "as_of": "2026-01-01"}, "age 30 does not fit birth_date"),
    ],
)
def test_every_invalid_field_names_the_field_and_what_is_allowed(data, message):
    with pytest.raises(ProfileError) as info:
        build({"conditions": ["spinal cord injury"], **data})
    assert message in str(info.value)


def test_profile_without_conditions_says_how_to_give_them():
    with pytest.raises(ProfileError, match="--condition"):
        load_profile(None, age=40)


@pytest.mark.parametrize(
    ("term", "condition"),
    [
        ("paralysis", "spinal_cord_injury"),
        ("Quadriplegia", "spinal_cord_injury"),
        ("tetraplegic", "spinal_cord_injury"),
        ("SCI", "spinal_cord_injury"),
        ("CVA", "stroke"),
        ("cerebrovascular accident", "stroke"),
        ("CP", "cerebral_palsy"),
        ("TBI", "traumatic_brain_injury"),
        ("MS", "multiple_sclerosis"),
        ("Lou Gehrig's disease", "als"),
    ],
)
def test_condition_terms_resolve_through_synonyms(term, condition):
    assert condition in {c.id for c in build({"conditions": [term]}).known_conditions()}


def test_unknown_condition_terms_are_kept_as_text():
    p = build({"conditions": ["erectile dysfunction", "spinal cord injury"]})
    assert p.unknown_condition_terms() == ["erectile dysfunction"]


@pytest.mark.parametrize(
    ("condition", "days", "phase"),
    [
        ("spinal cord injury", 5, "acute"),
        ("spinal cord injury", 100, "subacute"),
        ("spinal cord injury", 250, "subacute or chronic"),  # 6-12 months: definitions differ
        ("spinal cord injury", 800, "chronic"),
        ("stroke", 3, "acute"),
        ("stroke", 60, "subacute"),
        ("stroke", 200, "chronic"),
    ],
)
def test_phase_is_derived_from_condition_specific_windows(condition, days, phase):
    as_of = dt.date(2026, 11, 22)
    p = build({"conditions": [condition], "injury_date": as_of - dt.timedelta(days=days), "as_of": as_of})
    assert p.derived_phase() == phase


def test_phase_windows_have_sources():
    k = knowledge()
    assert set(k.phases) == {"spinal_cord_injury", "stroke", "traumatic_brain_injury"}
    assert all(k.phase_sources[c] for c in k.phases)
    assert "Bernhardt" in k.phase_sources["stroke"][0]


def test_phase_that_contradicts_the_date_is_refused():
    with pytest.raises(ProfileError, match="phase 'acute' does not fit"):
        build({"conditions": ["stroke"], "onset_date": "2020-01-01", "phase": "acute", "as_of": "2026-01-01"})


def test_imprecise_facts_become_intervals():
    p = build({"conditions": ["sci"], "age": 34, "time_since_onset": "18 months"})
    assert p.age_interval() == (34 * YEAR, 35 * YEAR)
    assert p.onset_interval() == pytest.approx((18 * MONTH, 19 * MONTH))
    only_phase = build({"conditions": ["sci"], "phase": "chronic"})
    assert only_phase.onset_interval() == (183, float("inf"))
    assert parse_duration("3 days") == (3, 4)


def test_birth_date_gives_exact_age_and_as_of_makes_it_reproducible():
    p = build({"conditions": ["cp"], "birth_date": "2018-03-02", "as_of": "2026-03-02"})
    lo, hi = p.age_interval()
    assert hi - lo == 1 and 8 * YEAR - 2 <= lo <= 8 * YEAR + 2


def test_places_resolve_offline():
    zurich = build({"conditions": ["sci"], "location": "Zurich"}).location
    assert zurich.lat == pytest.approx(47.37, abs=0.05) and "CH" in zurich.label
    nyc = build({"conditions": ["sci"], "location": "10001"}).location
    assert nyc.lat == pytest.approx(40.75, abs=0.05)
    springfield = build({"conditions": ["sci"], "location": "Springfield, IL"}).location
    assert springfield.lon == pytest.approx(-89.65, abs=0.1)
    coords = build({"conditions": ["sci"], "location": {"lat": 1.5, "lon": 2.5}}).location
    assert (coords.lat, coords.lon) == (1.5, 2.5)


@pytest.mark.parametrize(
    ("place", "label", "lat", "lon"),
    [
        ("Toronto, ON", "Toronto, ON, CA", 43.65, -79.38),
        ("Toronto, Ontario", "Toronto, ON, CA", 43.65, -79.38),
        ("Toronto, Canada", "Toronto, ON, CA", 43.65, -79.38),
        ("London, Ontario", "London, ON, CA", 42.98, -81.23),
        ("London, ON, Canada", "London, ON, CA", 42.98, -81.23),
        ("London, UK", "London, GB", 51.51, -0.13),
        ("London, United Kingdom", "London, GB", 51.51, -0.13),
        ("London, England", "London, GB", 51.51, -0.13),
        ("Montreal, QC", "Montréal, QC, CA", 45.51, -73.59),
        ("Springfield, IL", "Springfield, IL, US", 39.80, -89.64),
        ("Springfield, Illinois", "Springfield, IL, US", 39.80, -89.64),
        ("Paris, Texas", "Paris, TX, US", 33.66, -95.56),
        ("New York, USA", "New York City, NY, US", 40.71, -74.01),
        ("Perth, WA, Australia", "Perth, WA, AU", -31.95, 115.86),
        ("Seoul, Korea, Republic of", "Seoul, KR", 37.57, 126.98),  # the registry's own spelling
    ],
)
def test_places_take_provinces_states_and_common_country_names(place, label, lat, lon):
    found = build({"conditions": ["sci"], "location": place}).location
    assert found.label == label
    assert (found.lat, found.lon) == (pytest.approx(lat, abs=0.1), pytest.approx(lon, abs=0.1))


@pytest.mark.parametrize(
    ("place", "says"),
    [
        ("Nowhereville", "no city called 'Nowhereville'"),
        ("Toronto, Ontari", "'Ontari' is not a country, US state, Canadian province"),
        ("Toronto, IL", "no city called 'Toronto' in 'IL'"),
    ],
)
def test_an_unknown_place_says_which_forms_work(place, says):
    with pytest.raises(ProfileError) as info:
        build({"conditions": ["sci"], "location": place})
    message = str(info.value)
    assert f"unknown place {place!r}" in message and says in message
    for form in ('"City, Country" (London, UK)', '"City, ST"', "Toronto, ON", "US ZIP code", "LAT,LON"):
        assert form in message
    assert "\n" not in message


def test_example_profiles_load(tmp_path):
    from trialfinder.seeds import seeds_dir

    paths = sorted((seeds_dir() / "profiles").glob("*.toml"))
    assert {p.stem for p in paths} >= {
        "chronic-cervical-sci",
        "acute-thoracic-sci",
        "child-cerebral-palsy",
        "chronic-stroke",
    }
    for path in paths:
        assert load_profile(path).known_conditions()
