"""The ``trialfinder`` command line: parse options, call the library, render.

Only this package imports click and only it prints. Library errors
(``TrialFinderError``) become one line on stderr and exit status 1; usage
errors exit with 2. Each module holds one family of commands:

    trials     search, show, import, sync, cache
    matching   match, explain, criteria
    work       patient, shortlist, backup, restore (the user's own data)
    watching   watch, digest (scheduled news)
"""

from __future__ import annotations

import click

from .. import __version__
from . import matching, serve, trials, watching, work
from .options import TrialFinderGroup


@click.group(cls=TrialFinderGroup)
@click.version_option(__version__, prog_name="trialfinder")
def cli() -> None:
    """Find ClinicalTrials.gov trials and see, with reasons, which ones may fit a patient.

    trialfinder informs; it does not give medical advice. Talk about any trial
    with the study team and your own clinicians.
    """


for command in (
    matching.match_,
    matching.explain,
    matching.criteria,
    trials.search,
    trials.show,
    trials.import_,
    trials.sync,
    trials.cache,
    work.patient,
    work.shortlist,
    work.backup,
    work.restore,
    watching.watch,
    watching.digest,
    serve.serve,
):
    cli.add_command(command)
