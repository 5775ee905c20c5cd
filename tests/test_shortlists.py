"""What changed since a trial was shortlisted, and the nearest open sites."""

from __future__ import annotations

import json

from records import changed, site, study
from trialfinder.models import Study
from trialfinder.profiles import build
from trialfinder.shortlists import changes_since, describe_site_changes, nearest_sites, site_keys, snapshot


def as_study(record):
    return Study.from_record(record)


def history_row(record):
    s = as_study(record)
    return {
        "last_update": s.last_update_post_date,
        "status": s.overall_status,
        "eligibility": s.eligibility_criteria,
        "sites": json.dumps(site_keys(s)),
    }


def test_nothing_changed():
    record = study(last_update="2026-01-15")
    snap = snapshot(as_study(record), fetched_at="2026-01-20T00:00:00Z", verdict="eligible")
    assert changes_since(snap, as_study(record), []) == []


def test_each_change_is_dated_by_the_version_that_first_showed_it():
    v1 = study(last_update="2026-01-15", status="NOT_YET_RECRUITING")
    v2 = changed(v1, status="RECRUITING", last_update="2026-02-01")
    v3 = changed(v2, criteria="Inclusion Criteria:\n\n* Adults 18 to 60", last_update="2026-03-10")
    snap = snapshot(as_study(v1), fetched_at=None, verdict=None)
    # The cache's history holds the replaced versions v1 and v2; v3 is current.
    found = changes_since(snap, as_study(v3), [history_row(v1), history_row(v2)])
    assert [(c.field, c.date) for c in found] == [("status", "2026-02-01"), ("criteria", "2026-03-10")]
    assert found[0].text == "status: Not yet recruiting → Recruiting"


def test_a_change_undone_later_is_not_reported():
    v1 = study(last_update="2026-01-15")
    v2 = changed(v1, status="SUSPENDED", last_update="2026-02-01")
    v3 = changed(v2, status="RECRUITING", last_update="2026-03-01")
    found = changes_since(snapshot(as_study(v1), fetched_at=None, verdict=None), as_study(v3), [history_row(v2)])
    assert [c.field for c in found] == ["record"]  # updated, but status is as it was
    assert found[0].date == "2026-03-01"


def test_whitespace_in_criteria_is_not_a_change():
    v1 = study(criteria="Inclusion Criteria:\n\n* Adults")
    v2 = changed(v1, criteria="Inclusion Criteria:\n  * Adults  ")
    assert changes_since(snapshot(as_study(v1), fetched_at=None, verdict=None), as_study(v2), []) == []


def test_site_changes_are_named():
    old = [["A Hospital", "Zurich", "Switzerland", "RECRUITING"], ["B Clinic", "Bern", "Switzerland", "RECRUITING"]]
    new = [["A Hospital", "Zurich", "Switzerland", "COMPLETED"], ["C Centre", "Basel", "Switzerland", None]]
    text = describe_site_changes(old, new)
    assert text == (
        "1 added (C Centre, Basel, Switzerland), 1 removed (B Clinic, Bern, Switzerland), "
        "1 changed status (A Hospital, Zurich, Switzerland: recruiting → completed)"
    )


def test_sites_change_is_reported_with_its_date():
    v1 = study(last_update="2026-01-15", locations=[site()])
    v2 = changed(v1, last_update="2026-04-01", locations=[site(), site("New Site", city="Geneva")])
    found = changes_since(snapshot(as_study(v1), fetched_at=None, verdict=None), as_study(v2), [history_row(v1)])
    assert [(c.field, c.date) for c in found] == [("sites", "2026-04-01")]
    assert "1 added (New Site, Geneva, Switzerland)" in found[0].text


def test_nearest_open_sites_first_and_closed_ones_left_out():
    record = study(
        locations=[
            site("Far", city="Lisbon", country="Portugal", lat=38.7, lon=-9.1),
            site("Closed", city="Zurich", lat=47.37, lon=8.54, status="COMPLETED"),
            site("Near", city="Winterthur", lat=47.5, lon=8.72),
            site("Nowhere", city="Unknown", lat=None, lon=None),
        ]
    )
    profile = build({"conditions": ["spinal cord injury"], "location": {"lat": 47.4, "lon": 8.5}})
    found = nearest_sites(as_study(record), profile)
    assert [s.facility for s in found] == ["Near", "Far", "Nowhere"]
    assert found[0].km is not None and found[0].km < 30 and found[2].km is None
    without_place = nearest_sites(as_study(record), build({"conditions": ["spinal cord injury"]}))
    assert [s.facility for s in without_place] == ["Far", "Near", "Nowhere"]  # the record's order
