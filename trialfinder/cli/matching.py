"""Commands that check trials against a patient: match, explain, and criteria (what was read)."""

from __future__ import annotations

import json

import click

from ..match.criteria import parse as parse_criteria
from ..matcher import explain as explain_trial
from ..matcher import match, prepare_cache
from ..models import Study
from ..profiles import Profile
from ..render import data as render_data
from ..render import matching as render_matching
from ..render import shortlist as render_shortlist
from ..render import trust as render_trust
from ..shortlists import SHORTLISTED_VERDICTS, entries_from_matches
from ..sync import get_study
from ..userdata import Patient
from .options import (
    STATUS_CHOICES,
    Reporter,
    client_factory,
    db_option,
    json_option,
    network_options,
    open_cache,
    open_userdata,
    profile_options,
    wanted_statuses,
)


@click.command(name="match")
@profile_options
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(STATUS_CHOICES, case_sensitive=False),
    help="Trial status to consider; repeat for several [default: recruiting, not-yet-recruiting].",
)
@click.option(
    "--all", "include_all", is_flag=True, help="Every candidate trial, whatever its status, verdict or distance."
)
@click.option(
    "--hide-flagged", is_flag=True, help="Leave out trials with warning signs (otherwise they are listed last)."
)
@click.option("--limit", type=click.IntRange(min=1), default=25, show_default=True, help="At most this many trials.")
@click.option(
    "--shortlist",
    "add_to_shortlist",
    is_flag=True,
    help="Add the listed trials that may qualify or are unclear to the --patient's shortlist.",
)
@db_option
@network_options
@json_option
def match_(
    profile: Profile,
    patient: Patient | None,
    add_to_shortlist: bool,
    statuses: tuple[str, ...],
    include_all: bool,
    hide_flagged: bool,
    limit: int,
    db_path: str | None,
    api_url: str | None,
    offline: bool,
    refresh: bool,
    as_json: bool,
) -> None:
    """Find the trials for a patient profile and say, trial by trial, whether they may qualify.

    Each trial gets a verdict: "may qualify" (nothing we could check rules the
    patient out), "unclear" (the profile lacks something the trial needs, or the
    text could not be read with confidence) or "not eligible" (a criterion
    clearly fails; its text is shown by `trialfinder explain`). Only the
    condition terms go to the registry; age, sex, dates and severity stay here.

    \b
    Examples:
      trialfinder match --profile seeds/profiles/chronic-cervical-sci.toml
      trialfinder match --condition stroke --age 67 --sex female --time-since-onset "2 years"
      trialfinder match --profile me.toml --all --json
      trialfinder match --patient P-017 --shortlist
    """
    if add_to_shortlist and patient is None:
        raise click.UsageError("--shortlist needs --patient NAME: a shortlist belongs to a patient (`patient add`)")
    wanted = wanted_statuses(statuses, include_all)
    reporter = Reporter()
    with open_cache(db_path) as c:
        results = prepare_cache(
            c, client_factory(api_url, reporter), profile, statuses=wanted, include_all=include_all,
            offline=offline, refresh=refresh, progress=reporter,
        )  # fmt: skip
        reporter.done()
        found = match(c, profile, statuses=wanted, include_all=include_all, hide_flagged=hide_flagged, limit=limit)
        stamp = next((r.data_timestamp for r in results if r.data_timestamp), None) or c.info()["data_timestamp"]
        if add_to_shortlist and patient is not None:
            wanted_matches = [m for m in found if m.verdict in SHORTLISTED_VERDICTS]
            with open_userdata(db_path) as data:
                added, present = data.add_entries(patient, entries_from_matches(c, wanted_matches))
            click.echo(render_shortlist.added_from_match(patient.name, added, present), err=True)
    if as_json:
        click.echo(render_data.dumps([render_data.match_item(m) for m in found]))
        return
    click.echo(render_matching.match_header(profile, stamp))
    if not found:
        click.echo(
            "\nNo open trials found for this profile. Try --all to see every candidate, or widen --max-distance."
        )
    else:
        click.echo("\n" + render_matching.match_table(found))
        trusts = [(m.nct_id, m.trust) for m in found]
        warnings = render_trust.warnings_section(trusts)
        if warnings:
            click.echo("\n" + warnings)
        click.echo("\n" + render_trust.questions_section(trusts))
        click.echo("\nSee why, criterion by criterion: trialfinder explain NCT_ID --profile ...")
    # With --all the registry search is not limited to the profile's area (see `registry_queries`).
    privacy = render_matching.PRIVACY_NO_AREA if include_all else render_matching.PRIVACY
    click.echo("\n" + privacy + "\n" + render_matching.DISCLAIMER)


@click.command()
@click.argument("nct_id")
@profile_options
@db_option
@network_options
@json_option
def explain(
    nct_id: str,
    profile: Profile,
    patient: Patient | None,
    db_path: str | None,
    api_url: str | None,
    offline: bool,
    refresh: bool,
    as_json: bool,
) -> None:
    """Check one trial against a profile, criterion by criterion, in plain language.

    Shows which criteria are met, which fail (with the registry's own text),
    which the profile can't answer, and what to ask the study team.

    \b
    Example:
      trialfinder explain NCT06347575 --profile seeds/profiles/chronic-cervical-sci.toml
    """
    reporter = Reporter()
    with open_cache(db_path) as c:
        get_study(c, client_factory(api_url, reporter), nct_id, offline=offline, refresh=refresh)
        reporter.done()
        result = explain_trial(c, profile, nct_id)
    if as_json:
        click.echo(render_data.dumps(render_data.match_item(result)))
        return
    click.echo(render_matching.checklist(result, profile))


@click.command()
@click.argument("nct_id")
@db_option
@network_options
@json_option
def criteria(
    nct_id: str, db_path: str | None, api_url: str | None, offline: bool, refresh: bool, as_json: bool
) -> None:
    """Show what trialfinder read from a trial's eligibility criteria.

    Every criterion with its section, and the facts read from it (ages, sex,
    time since injury or onset, AIS grade, level, GMFCS, conditions), so anyone
    can see, and report, a misreading.

    \b
    Example:
      trialfinder criteria NCT06347575
    """
    with open_cache(db_path) as c:
        record = get_study(c, client_factory(api_url), nct_id, offline=offline, refresh=refresh)
    study = Study.from_record(record)
    parsed = parse_criteria(study.eligibility_criteria)
    if as_json:
        click.echo(render_data.dumps({"nct_id": study.nct_id, **json.loads(parsed.to_json())}))
        return
    click.echo(render_matching.parsed_criteria(study.nct_id, parsed))
