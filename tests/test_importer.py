"""Reading records from every file shape, streaming, skipping what is broken."""

from __future__ import annotations

import csv
import json
import zipfile
from collections import Counter

import pytest

from conftest import STUDIES, needs_shared
from records import page, study
from trialfinder import importer
from trialfinder.errors import InputError
from trialfinder.importer import Rejected, import_paths, iter_records


def write(path, data):
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def ids(items):
    return [r["protocolSection"]["identificationModule"]["nctId"] for _, r in items if not isinstance(r, Rejected)]


def rejected(items):
    return [(where, r.reason) for where, r in items if isinstance(r, Rejected)]


def test_single_study_file(tmp_path):
    items = list(iter_records([write(tmp_path / "one.json", study("NCT01000001"))]))
    assert ids(items) == ["NCT01000001"]


def test_api_list_response(tmp_path):
    path = write(tmp_path / "page.json", page([study("NCT01000001"), study("NCT01000002")], next_token="x", total=9))
    assert ids(iter_records([path])) == ["NCT01000001", "NCT01000002"]


def test_website_download_array_one_record_per_line(tmp_path):
    path = tmp_path / "ctg-studies.json"
    lines = ",\n".join(json.dumps(study(f"NCT0100000{i}")) for i in range(1, 4))
    path.write_text(f"[\n{lines}\n]", encoding="utf-8")
    assert ids(iter_records([path])) == ["NCT01000001", "NCT01000002", "NCT01000003"]


def test_pretty_printed_array_across_small_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(importer, "CHUNK_CHARS", 97)  # every record straddles many chunk boundaries
    path = tmp_path / "pretty.json"
    path.write_text(json.dumps([study(f"NCT0100000{i}") for i in range(1, 6)], indent=2), encoding="utf-8")
    assert ids(iter_records([path])) == [f"NCT0100000{i}" for i in range(1, 6)]


def test_broken_record_in_an_array_is_skipped_and_the_rest_read(tmp_path, monkeypatch):
    monkeypatch.setattr(importer, "CHUNK_CHARS", 128)
    good = [json.dumps(study(f"NCT0100000{i}")) for i in range(1, 4)]
    broken = '{"protocolSection": {"identificationModule": {"nctId": "NCT09", oops}}}'
    path = tmp_path / "mixed.json"
    path.write_text("[\n" + ",\n".join([good[0], broken, good[1], good[2]]) + "\n]", encoding="utf-8")

    items = list(iter_records([path]))

    assert ids(items) == ["NCT01000001", "NCT01000002", "NCT01000003"]
    (problem,) = rejected(items)
    assert problem[0].endswith("mixed.json[1]") and "not valid JSON" in problem[1]


def test_array_records_are_cut_without_decoding_and_odd_ones_still_read_whole(tmp_path, monkeypatch):
    """The reader cuts an array at each next record start; where braces don't balance it decodes instead."""
    decoded = []
    real = importer._DECODER.raw_decode

    class Spy:
        def raw_decode(self, buf, pos):
            record, end = real(buf, pos)  # a failed attempt (a record cut by the read size) raises first
            decoded.append(record["protocolSection"]["identificationModule"]["nctId"])
            return record, end

    monkeypatch.setattr(importer, "_DECODER", Spy())
    braces = study("NCT01000002", title="Gait {training] with ] and { in the title")
    nested = study("NCT01000003")
    nested["annotationSection"] = {"copy": {"protocolSection": {"note": "a nested object with that key"}}}
    records = [study("NCT01000001"), braces, nested, study("NCT01000004"), study("NCT01000005")]
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(records, indent=2), encoding="utf-8")
    items = list(iter_records([path]))
    assert [r for _, r in items] == records
    # Decoded: the record with braces in its title, the one with a nested record-like object, and the
    # last one (no record after it); the plain ones were cut.
    assert decoded == ["NCT01000002", "NCT01000003", "NCT01000005"]


def test_array_cut_short_reports_the_unfinished_tail(tmp_path):
    path = tmp_path / "cut.json"
    text = json.dumps([study("NCT01000001"), study("NCT01000002")])
    path.write_text(text[: len(text) - 200], encoding="utf-8")
    items = list(iter_records([path]))
    assert ids(items) == ["NCT01000001"]
    assert len(rejected(items)) == 1


def test_large_list_response_is_streamed(tmp_path, monkeypatch):
    monkeypatch.setattr(importer, "WHOLE_FILE_LIMIT", 10)
    path = write(tmp_path / "big.json", page([study(f"NCT0100000{i}") for i in range(1, 4)], total=3))
    assert ids(iter_records([path])) == ["NCT01000001", "NCT01000002", "NCT01000003"]


def test_zip_of_per_study_files_and_unsafe_names_refused(tmp_path):
    path = tmp_path / "bulk.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("NCT01000001.json", json.dumps(study("NCT01000001")))
        zf.writestr("sub/NCT01000002.json", json.dumps(study("NCT01000002")))
        zf.writestr("../../evil.json", json.dumps(study("NCT01000003")))
        zf.writestr("/abs.json", json.dumps(study("NCT01000004")))
        zf.writestr("README.txt", "not json")
    items = list(iter_records([path]))
    assert ids(items) == ["NCT01000001", "NCT01000002"]
    reasons = rejected(items)
    assert [w.split("!")[1] for w, _ in reasons] == ["../../evil.json", "/abs.json"]
    assert all("outside the archive" in why for _, why in reasons)


def test_folder_is_walked_in_order_and_other_files_ignored(tmp_path):
    (tmp_path / "b").mkdir()
    write(tmp_path / "b" / "x.json", study("NCT01000002"))
    write(tmp_path / "a.json", study("NCT01000001"))
    (tmp_path / "notes.txt").write_text("hello")
    assert ids(iter_records([tmp_path])) == ["NCT01000001", "NCT01000002"]


def test_non_study_and_malformed_files_are_rejected_with_reasons(tmp_path):
    items = list(
        iter_records(
            [
                write(tmp_path / "other.json", {"hello": "world"}),
                tmp_path / "missing.json",
                write(tmp_path / "text.json", "just a string"),
            ]
        )
    )
    (tmp_path / "broken.json").write_text('{"protocolSection": ', encoding="utf-8")
    items += list(iter_records([tmp_path / "broken.json"]))
    reasons = [why for _, why in rejected(items)]
    assert reasons[0] == "not a study record (no protocolSection)"
    assert reasons[1] == "no such file or folder"
    assert reasons[2].startswith("not JSON")
    assert reasons[3].startswith("not valid JSON")


def test_import_counts_new_updated_unchanged_rejected(cache, tmp_path):
    write(tmp_path / "a.json", study("NCT01000001"))
    write(tmp_path / "b.json", study("NCT01000002"))
    (tmp_path / "c.json").write_text("{not json")
    first = import_paths(cache, [tmp_path])
    assert (first.new, first.updated, first.unchanged, len(first.rejected)) == (2, 0, 0, 1)

    write(tmp_path / "b.json", study("NCT01000002", status="COMPLETED", last_update="2026-09-09"))
    second = import_paths(cache, [tmp_path])
    assert (second.new, second.updated, second.unchanged) == (0, 1, 1)


def test_import_of_a_missing_path_is_an_input_error(cache, tmp_path):
    with pytest.raises(InputError, match="no such file"):
        import_paths(cache, [tmp_path / "nope"])


@needs_shared
def test_all_real_records_import(cache):
    counts = import_paths(cache, [STUDIES])
    assert (counts.new, len(counts.rejected)) == (1352, 0)
    row = cache.get_row("NCT06347575")
    assert (row["sex"], row["min_age"], row["max_age"], row["status"]) == (
        "MALE",
        "18 Years",
        "45 Years",
        "NOT_YET_RECRUITING",
    )
    assert "Spinal Cord Injuries" in json.loads(row["mesh_terms"])
    # Status counts agree with the independent index that ships with the records.
    with open(STUDIES.parent / "INDEX.csv", encoding="utf-8") as fh:
        expected = Counter(r["overall_status"] for r in csv.DictReader(fh) if r["folder"] == "studies")
    assert cache.info()["by_status"] == dict(expected)
    again = import_paths(cache, [STUDIES / "NCT06347575.json"])
    assert again.unchanged == 1


def test_list_response_with_a_broken_record_keeps_the_good_ones(tmp_path):
    good = [json.dumps(study(f"NCT0100000{i}")) for i in (1, 2)]
    path = tmp_path / "page.json"
    path.write_text('{"studies": [' + good[0] + ', {"protocolSection": nope}, ' + good[1] + "]}", encoding="utf-8")
    items = list(iter_records([path]))
    assert ids(items) == ["NCT01000001", "NCT01000002"]
    assert len(rejected(items)) == 1
