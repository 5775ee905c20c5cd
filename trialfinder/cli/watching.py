"""Watches and the scheduled digest: ``watch add|list|show|remove`` and ``digest``."""

from __future__ import annotations

import datetime as dt
import re
import sys
from pathlib import Path

import click

from ..delivery import Email, Files, Stream
from ..digest import Outcome, run
from ..errors import InputError, UserDataError
from ..mailer import smtp_settings
from ..profiles import Profile, lasting_fields, load_profile
from ..render import data as render_data
from ..render import digest as render_digest
from ..render import watching as render_watching
from ..userdata import Patient
from ..watches import FREQUENCIES, add_watch, deliveries, get_watch, list_watches, pending_items, remove_watch
from .options import Reporter, client_factory, db_option, json_option, open_cache, open_userdata, profile_options

# Exit statuses of `digest`, for schedulers: alert on FAILED.
EXIT_SENT, EXIT_FAILED, EXIT_NOTHING = 0, 1, 3
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@click.group()
def watch() -> None:
    """Watch a profile or a patient for news, delivered by `trialfinder digest`.

    News is: new trials that may fit, trials that opened or closed, criteria
    changes that change the verdict, and new open sites within the distance.
    """


@watch.command(name="add")
@click.argument("name")
@profile_options
@click.option("--email", help="Send digests to this address (needs a mail server, see the README).")
@click.option(
    "--every", type=click.Choice(FREQUENCIES), default="weekly", show_default=True, help="How often it is due."
)
@click.option("--notify-empty", is_flag=True, help="Weekly watches: send a short notice even when nothing is new.")
@db_option
def watch_add(
    name: str,
    profile: Profile,
    patient: Patient | None,
    email: str | None,
    every: str,
    notify_empty: bool,
    db_path: str | None,
) -> None:
    """Start watching a profile (--profile FILE or options) or a patient (--patient NAME).

    A patient's watch follows their stored profile as it is updated, and also
    reports status changes of the trials on their shortlist.

    \b
    Examples:
      trialfinder watch add P-017-weekly --patient P-017 --email coordinator@example.org
      trialfinder watch add my-trials --profile me.toml --every daily
    """
    if email and not _EMAIL.match(email.strip()):
        raise InputError(f"{email!r} is not an email address, e.g. name@example.org")
    with open_userdata(db_path) as data:
        if patient is not None:
            stored = load_profile(base=patient.profile, source=f"patient {patient.name}")
            if lasting_fields(stored) != lasting_fields(profile):
                raise UserDataError(
                    "with --patient the watch follows the patient's stored profile; "
                    "change the profile with `trialfinder patient update`, or watch a --profile instead"
                )
        fields = None if patient is not None else lasting_fields(profile)
        added = add_watch(
            data, name, patient=patient, profile_fields=fields, email=(email or "").strip() or None, every=every,
            notify_empty=notify_empty,
        )  # fmt: skip
    follows = f"patient {patient.name}" if patient else profile.describe()
    where = f"emailed to {added.email}" if added.email else "printed (or written with --out)"
    click.echo(f"Watching {follows} as {added.name!r}: {every}, {where}. Run `trialfinder digest` on a schedule.")


@watch.command(name="list")
@db_option
@json_option
def watch_list(db_path: str | None, as_json: bool) -> None:
    """List the watches, when each last ran and how many items wait to be sent."""
    with open_userdata(db_path) as data:
        rows = [(w, len(pending_items(data, w))) for w in list_watches(data)]
        names = {p.id: p.name for p in data.patients()}
    if as_json:
        items = [render_watching.watch_item(w, names.get(w.patient_id), n) for w, n in rows]
        click.echo(render_data.dumps(items))
        return
    click.echo(render_watching.watches_table(rows, names))


@watch.command(name="show")
@click.argument("name")
@db_option
def watch_show(name: str, db_path: str | None) -> None:
    """Show a watch: what it follows, where it sends, its waiting items and recent deliveries."""
    with open_userdata(db_path) as data:
        found = get_watch(data, name)
        waiting = pending_items(data, found)
        sent = deliveries(data, found)
        names = {p.id: p.name for p in data.patients()}
    click.echo(render_watching.watch_page(found, names.get(found.patient_id), waiting, sent))


@watch.command(name="remove")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Don't ask for confirmation.")
@db_option
def watch_remove(name: str, yes: bool, db_path: str | None) -> None:
    """Stop a watch. What it saw and sent stays in your data file and backups."""
    with open_userdata(db_path) as data:
        found = get_watch(data, name)
        if not yes:
            click.confirm(f"Stop watch {found.name!r}?", abort=True, err=True)
        remove_watch(data, found.name)
    click.echo(f"Stopped watch {found.name!r}.")


@click.command()
@click.option("--watch", "watch_name", metavar="NAME", help="Run only this watch, even if it is not due.")
@click.option("--dry-run", is_flag=True, help="Show what would be sent; send and record nothing.")
@click.option("--as-of", help="Count this day (YYYY-MM-DD) as today: for due dates and profiles.")
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False), help="Write Markdown and HTML files here instead of sending."
)
@click.option("--offline", is_flag=True, help="Don't refresh from the registry; compare what the cache holds.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Config file with [smtp] settings.")
@click.option("--verbose", "-v", is_flag=True, help="Say what each watch did (on stderr).")
@click.option("--api-url", help="Registry API base URL (default: $TRIALFINDER_API_URL or the public API).")
@db_option
def digest(
    watch_name: str | None,
    dry_run: bool,
    as_of: str | None,
    out_dir: str | None,
    offline: bool,
    config_file: str | None,
    verbose: bool,
    api_url: str | None,
    db_path: str | None,
) -> None:
    """Run the due watches: refresh, compare, and send each one's news.

    Meant for a scheduler (cron, a systemd timer). Items are marked sent only
    after delivery succeeds, so a failed delivery is retried next run with
    the same items; overlapping runs wait for each other and never send twice.

    \b
    Exit status: 0 a digest was sent, 3 nothing new, 1 something failed
    (a scheduler should alert on 1).

    \b
    Examples:
      trialfinder digest
      trialfinder digest --watch P-017-weekly --dry-run
      trialfinder digest --out digests/
    """
    day = _day(as_of)
    reporter = Reporter() if verbose else None
    settings = smtp_settings(config_file)
    fallback = Files(Path(out_dir)) if out_dir else Stream(lambda text: click.echo(text, nl=False))
    deliverer = fallback if out_dir else Email(settings, fallback)
    with open_userdata(db_path) as data, open_cache(db_path) as cache:
        outcomes = run(
            cache, data, client_factory(api_url, reporter), deliverer, day=day, watch_name=watch_name,
            offline=offline, dry_run=dry_run, progress=reporter,
        )  # fmt: skip
    if reporter:
        reporter.done()
    for outcome in outcomes:
        if outcome.result == "dry-run" and outcome.profile is not None:
            if outcome.items or (outcome.watch.notify_empty and outcome.watch.every == "weekly"):
                to = out_dir if out_dir else outcome.watch.email or "stdout"
                click.echo(f"--- would send to {to} ---")
                click.echo(render_digest.text(outcome.watch, outcome.profile, outcome.items, day), nl=False)
            else:
                click.echo(f"--- nothing new for {outcome.watch.name} ---")
        if outcome.result == "failed":
            click.echo(f"digest for {outcome.watch.name!r} failed: {outcome.detail}", err=True)
        elif verbose:
            click.echo(render_watching.outcome_line(outcome), err=True)
    if not outcomes and verbose:
        click.echo("No watches yet: add one with `trialfinder watch add`.", err=True)
    sys.exit(exit_status(outcomes))


def exit_status(outcomes: list[Outcome]) -> int:
    """1 if any watch failed, else 0 if any digest was (or, dry, would be) sent, else 3."""
    if any(o.result == "failed" for o in outcomes):
        return EXIT_FAILED
    if any(o.result == "sent" or (o.result == "dry-run" and o.items) for o in outcomes):
        return EXIT_SENT
    return EXIT_NOTHING


def _day(as_of: str | None) -> dt.date:
    if not as_of:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(as_of)
    except ValueError:
        raise InputError(f"--as-of {as_of!r} is not a date; use YYYY-MM-DD") from None
