"""The user's own work: patients, their shortlists, and backups of both.

All of it lives in the user database (``userdata.py``), apart from the
cache; these commands never delete it, only mark things removed.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from ..cache import Cache
from ..errors import NetworkError, UserDataError
from ..models import normalise_nct_id
from ..profiles import Profile, frozen_fields, lasting_fields, load_profile
from ..render import data as render_data
from ..render import html as render_html
from ..render import shortlist as render_shortlist
from ..shortlists import Item, prepare_entries, refresh, review
from ..userdata import Patient, UserData, read_backup, write_atomically
from .options import (
    Reporter,
    client_factory,
    db_option,
    json_option,
    network_options,
    open_cache,
    open_userdata,
    profile_options,
    shows_user_work,
)

# -- patients ------------------------------------------------------------------------


@click.group()
def patient() -> None:
    """Keep named patient profiles, so each one's matching and shortlist are a name away.

    A name can be an alias or a record number (e.g. P-017): no real names are
    needed, and only the fields matching uses are stored.
    """


@patient.command(name="add")
@click.argument("name")
@profile_options(patient=False)
@db_option
def patient_add(name: str, profile: Profile, db_path: str | None) -> None:
    """Keep a patient's profile under NAME (an alias or record number is enough).

    \b
    Examples:
      trialfinder patient add P-017 --profile seeds/profiles/chronic-cervical-sci.toml
      trialfinder patient add P-018 --condition stroke --birth-date 1961-04-02 --onset-date 2024-09-15
    """
    fields = lasting_fields(profile)
    with open_userdata(db_path) as data:
        added = data.add_patient(name, fields)
    click.echo(f"Added patient {added.name}: {profile.describe()}")
    _warn_frozen(fields)


@patient.command(name="update")
@click.argument("name")
@profile_options(patient=False, base_from="name")
@click.option("--replace", is_flag=True, help="Drop the stored fields: keep only what this command gives.")
@db_option
def patient_update(name: str, profile: Profile, replace: bool, db_path: str | None) -> None:
    """Change a patient's profile: the options given are laid over the stored ones.

    \b
    Examples:
      trialfinder patient update P-017 --location Zurich --max-distance 200
      trialfinder patient update P-017 --replace --profile new-profile.toml
    """
    fields = lasting_fields(profile)
    with open_userdata(db_path) as data:
        updated = data.update_patient(name, fields)
    click.echo(f"Updated patient {updated.name}: {profile.describe()}")
    _warn_frozen(fields)


def _warn_frozen(fields: dict) -> None:
    frozen = frozen_fields(fields)
    if frozen:
        click.echo(f"Note: {frozen}.", err=True)


@patient.command(name="list")
@db_option
@json_option
def patient_list(db_path: str | None, as_json: bool) -> None:
    """List the patients, with how many trials each has shortlisted."""
    with open_userdata(db_path) as data:
        rows = [(p, len(data.entries(p))) for p in data.patients()]
    if as_json:
        items = [{"name": p.name, "profile": p.profile, "shortlisted": n, "updated_at": p.updated_at} for p, n in rows]
        click.echo(render_data.dumps(items))
        return
    click.echo(render_shortlist.patients_table(rows))


@patient.command(name="show")
@click.argument("name")
@db_option
@json_option
def patient_show(name: str, db_path: str | None, as_json: bool) -> None:
    """Show a patient's stored profile and how their shortlist stands."""
    with open_userdata(db_path) as data:
        found = data.patient(name)
        counts: dict[str, int] = {}
        for entry in data.entries(found):
            counts[entry.status] = counts.get(entry.status, 0) + 1
    if as_json:
        click.echo(render_data.dumps({"name": found.name, "profile": found.profile, "shortlist": counts}))
        return
    click.echo(render_shortlist.patient_page(found, _stored_profile(found), counts))


@patient.command(name="remove")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Don't ask for confirmation.")
@db_option
def patient_remove(name: str, yes: bool, db_path: str | None) -> None:
    """Stop listing a patient. Their profile, shortlist and history stay in backups."""
    with open_userdata(db_path) as data:
        found = data.patient(name)
        n = len(data.entries(found))
        if not yes:
            click.confirm(f"Remove patient {found.name} (shortlist of {n} trial(s))?", abort=True, err=True)
        data.remove_patient(found.name)
    click.echo(f"Removed patient {found.name}; the record is kept in your data file and in backups.")


def _stored_profile(found: Patient) -> Profile:
    return load_profile(base=found.profile, source=f"patient {found.name}")


# -- shortlists -----------------------------------------------------------------------


@click.group()
def shortlist() -> None:
    """Each patient's shortlist of trials: pipeline status, notes, history, exports.

    \b
    Pipeline: candidate → contacted → screening → enrolled,
              or declined / not-eligible (with --reason) from any open stage.
    """


@shortlist.command(name="add")
@click.argument("patient_name", metavar="PATIENT")
@click.argument("nct_ids", nargs=-1, required=True, metavar="NCT_ID...")
@click.option("--note", help="A note to keep with each added trial.")
@db_option
@network_options
def shortlist_add(
    patient_name: str,
    nct_ids: tuple[str, ...],
    note: str | None,
    db_path: str | None,
    api_url: str | None,
    offline: bool,
    refresh: bool,
) -> None:
    """Add trials to a patient's shortlist as candidates.

    Each trial is fetched (through the cache) and checked first: an unknown NCT
    id and nothing is added. What the record says now is kept, so the
    shortlist can later show what changed.

    \b
    Example:
      trialfinder shortlist add P-017 NCT06347575 NCT03390920 --note "from the October clinic"
    """
    reporter = Reporter()
    with open_userdata(db_path) as data, open_cache(db_path) as cache:
        found = data.patient(patient_name)
        profile = _stored_profile(found)
        items = prepare_entries(cache, client_factory(api_url, reporter), profile, nct_ids, offline=offline)
        added, present = data.add_entries(found, items, note=(note or "").strip() or None)
    reporter.done()
    if added:
        click.echo(f"Added to {found.name}'s shortlist as candidates: {', '.join(added)}.")
    if present:
        click.echo(f"Already on the shortlist: {', '.join(present)}.")


@shortlist.command(name="remove")
@click.argument("patient_name", metavar="PATIENT")
@click.argument("nct_ids", nargs=-1, required=True, metavar="NCT_ID...")
@db_option
def shortlist_remove(patient_name: str, nct_ids: tuple[str, ...], db_path: str | None) -> None:
    """Take trials off a patient's shortlist (the history keeps them)."""
    with open_userdata(db_path) as data:
        found = data.patient(patient_name)
        ids = [_nct(n) for n in nct_ids]
        data.remove_entries(found, ids)
    click.echo(f"Removed from {found.name}'s shortlist: {', '.join(ids)}.")


@shortlist.command(name="note")
@click.argument("patient_name", metavar="PATIENT")
@click.argument("nct_id")
@click.argument("text")
@db_option
def shortlist_note(patient_name: str, nct_id: str, text: str, db_path: str | None) -> None:
    """Set the note on a shortlisted trial (earlier notes stay in the history).

    \b
    Example:
      trialfinder shortlist note P-017 NCT06347575 "left a message with the coordinator"
    """
    with open_userdata(db_path) as data:
        entry = data.set_note(data.patient(patient_name), _nct(nct_id), text)
    click.echo(f"Noted on {entry.nct_id}.")


@shortlist.command(name="status")
@click.argument("patient_name", metavar="PATIENT")
@click.argument("nct_id")
@click.argument("status")
@click.option("--reason", help="Why; required for declined and not-eligible.")
@db_option
def shortlist_status(patient_name: str, nct_id: str, status: str, reason: str | None, db_path: str | None) -> None:
    """Move a shortlisted trial along the pipeline.

    STATUS is one of candidate, contacted, screening, enrolled, declined,
    not-eligible. Each step moves one stage on; declined and not-eligible need
    --reason and can be reopened to candidate.

    \b
    Examples:
      trialfinder shortlist status P-017 NCT06347575 contacted
      trialfinder shortlist status P-017 NCT06347575 not-eligible --reason "needs AIS grade A"
    """
    with open_userdata(db_path) as data:
        entry = data.set_status(data.patient(patient_name), _nct(nct_id), status, reason)
    click.echo(f"{entry.nct_id} is now {entry.status}.")


@shortlist.command(name="history")
@click.argument("patient_name", metavar="PATIENT")
@click.argument("nct_id", required=False)
@db_option
@json_option
def shortlist_history(patient_name: str, nct_id: str | None, db_path: str | None, as_json: bool) -> None:
    """Every change to a patient's shortlist, oldest first, with its time (UTC)."""
    with open_userdata(db_path) as data:
        found = data.patient(patient_name)
        events = data.events(found, _nct(nct_id) if nct_id else None)
    if as_json:
        click.echo(render_data.dumps([vars(e) for e in events]))
        return
    click.echo(render_shortlist.history_text(found, events))


@shortlist.command(name="show")
@click.argument("patient_name", metavar="PATIENT")
@db_option
@network_options
@json_option
@shows_user_work
def shortlist_show(
    patient_name: str, db_path: str | None, api_url: str | None, offline: bool, refresh: bool, as_json: bool
) -> None:
    """Show a patient's shortlist, re-checked against the current registry records.

    For each trial: the verdict now, trial status, nearest open site and
    contact, warning signs, note and pipeline status, and what changed in the
    record since it was shortlisted. Records older than a day are fetched again
    first (--offline to skip that).
    """
    with open_userdata(db_path) as data, open_cache(db_path) as cache:
        found, profile, items, stamp = _review(data, cache, patient_name, api_url, offline, refresh)
    if as_json:
        click.echo(render_data.dumps([render_data.shortlist_item(i) for i in items]))
        return
    click.echo(render_shortlist.shortlist_page(found, profile, items, stamp))


@shortlist.command(name="export")
@click.argument("patient_name", metavar="PATIENT")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "md", "html"]), required=True, help="csv, md (Markdown) or html."
)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to this file [default: stdout].")
@db_option
@network_options
@shows_user_work
def shortlist_export(
    patient_name: str,
    fmt: str,
    output: str | None,
    db_path: str | None,
    api_url: str | None,
    offline: bool,
    refresh: bool,
) -> None:
    """Export a patient's shortlist: CSV for spreadsheets, Markdown, or a printable HTML page.

    The HTML page is self-contained (nothing loaded from elsewhere) and has,
    per trial, the criterion checklist, nearest sites and contacts, the
    registration-and-oversight panel and questions for the study team.

    \b
    Examples:
      trialfinder shortlist export P-017 --format csv --output p017.csv
      trialfinder shortlist export P-017 --format html -o p017.html
    """
    with open_userdata(db_path) as data, open_cache(db_path) as cache:
        found, profile, items, stamp = _review(data, cache, patient_name, api_url, offline, refresh)
    if fmt == "csv":
        text = render_shortlist.csv_text(items)
    elif fmt == "md":
        text = render_shortlist.markdown(found, profile, items, stamp)
    else:
        printed = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
        text = render_html.shortlist_html(found, profile, items, stamp, printed)
    if output:
        write_atomically(Path(output), text)
        click.echo(f"Wrote {found.name}'s shortlist ({len(items)} trial(s)) to {output}.", err=True)
    else:
        click.echo(text, nl=False)


def _review(
    data: UserData, cache: Cache, name: str, api_url: str | None, offline: bool, force: bool
) -> tuple[Patient, Profile, list[Item], str | None]:
    """The patient, their profile, and their shortlist re-checked (records older than a day fetched again)."""
    found = data.patient(name)
    profile = _stored_profile(found)
    if not offline:
        reporter = Reporter()
        try:
            refresh(cache, client_factory(api_url, reporter), data.entries(found), force=force, progress=reporter)
        except NetworkError as exc:
            reporter.note(f"note: can't reach the registry ({exc}); showing the cached records.")
        reporter.done()
    items = review(cache, data, found, profile)
    stamp = cache.info()["data_timestamp"]
    return found, profile, items, stamp


def _nct(value: str) -> str:
    return normalise_nct_id(value)


# -- backup and restore ---------------------------------------------------------------


@click.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--overwrite", is_flag=True, help="Replace PATH if it exists.")
@db_option
def backup(path: str, overwrite: bool, db_path: str | None) -> None:
    """Save all patients, shortlists, notes and history to a JSON file.

    \b
    Example:
      trialfinder backup ~/trialfinder-backup-$(date +%F).json
    """
    if Path(path).exists() and not overwrite:
        raise UserDataError(f"{path} already exists; choose another name or add --overwrite")
    with open_userdata(db_path) as data:
        counts = data.backup(path)
    click.echo(f"Saved {_counted(counts)} to {path}.")


@click.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--yes", is_flag=True, help="Don't ask for confirmation.")
@db_option
def restore(path: str, yes: bool, db_path: str | None) -> None:
    """Replace all patients and shortlists with those in a backup file.

    What is there now is saved first, beside your data file, so a restore can
    itself be undone.
    """
    with open_userdata(db_path) as data:
        read_backup(Path(path))  # a damaged file fails here, before anything is asked or changed
        if not yes:
            click.confirm(f"Replace all your patients and shortlists with those in {path}?", abort=True, err=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        keep = data.path.with_name(f"{data.path.stem}-before-restore-{stamp}.json")
        counts = data.restore(path, keep_copy_in=keep)
    click.echo(f"Restored {_counted(counts)} from {path}. Your previous data is saved in {keep}.")


def _counted(counts: dict[str, int]) -> str:
    return (
        f"{counts['patients']} patient(s), {counts['shortlist']} shortlist entries, {counts['events']} changes, "
        f"{counts['watches']} watch(es) and {counts['digest_items']} digest items"
    )
