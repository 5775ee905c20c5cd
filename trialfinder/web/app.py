"""The web app: a thin layer of pages over the same engine and the same files as the CLI.

Every page opens the cache (``cache.Cache``) and the user's data
(``userdata.UserData``) the CLI uses, calls the same library functions
(``matcher``, ``shortlists``, ``watches``) and renders with Jinja2, autoescaped.
Nothing is copied or kept here between requests but a few one-time messages.

Pages:
    GET  /                        Find trials: the profile form and the ranked results
    GET  /trial/{nct_id}          one trial: summary, checklist for the profile in the query, sites, questions
    GET  /patients                Coordinator view: patients, and a form to add one
    GET  /patient?name=           a patient's shortlist, re-checked, with edits, the stored profile and exports
    GET  /patient/export?name=&format=csv|html|md
    GET  /watches, /watch?name=   watches, and a watch's last digest and waiting items
Changes are POSTs with a CSRF token (``security.py``).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from .. import config
from ..api import Client, RetryPolicy
from ..cache import Cache
from ..errors import NetworkError, TrialFinderError
from ..matcher import explain, match, prepare_cache, reparse_stale
from ..models import OPEN_STATUSES, STATUSES, Study, normalise_nct_id
from ..profiles import Profile, frozen_fields, lasting_fields, load_profile
from ..render import html as render_html
from ..render import shortlist as render_shortlist
from ..render.matching import DISCLAIMER, PRIVACY
from ..render.watching import follows
from ..shortlists import prepare_entries, refresh, review
from ..sync import get_study
from ..trust import assess as assess_trust
from ..trust import disclaimer as trust_disclaimer
from ..trust import with_staleness
from ..userdata import CLOSED, PIPELINE, TRANSITIONS, Patient, UserData
from ..watches import FREQUENCIES, add_watch, deliveries, get_watch, list_watches, pending_items, remove_watch
from ..watches import Item as DigestItem
from . import forms, views
from .security import CSRF_FIELD, LOOPBACK_HOSTS, Csrf, Guard

RESULT_LIMIT = 25
# A web page should not hang for the CLI's full minute when the registry can't be reached.
WEB_RETRY_SECONDS = 15.0
_FLASHES_KEPT = 200


class Web:
    """What every page needs: where the files are, how to reach the registry, the CSRF secret."""

    def __init__(self, cache_path: Path, user_path: Path, *, offline: bool, api_url: str | None):
        self.cache_path = cache_path
        self.user_path = user_path
        self.offline = offline
        self.client_factory: Callable[[], Client] = functools.partial(
            Client,
            config.api_url(api_url),
            retry=RetryPolicy(max_total=min(config.retry_seconds(), WEB_RETRY_SECONDS)),
        )
        self.csrf = Csrf()
        self.flashes: OrderedDict[str, dict[str, str]] = OrderedDict()
        self.flash_lock = threading.Lock()  # pages run in worker threads
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("trialfinder.web", "templates"),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals.update(
            disclaimer=" ".join(DISCLAIMER.split()),
            oversight_note=trust_disclaimer(),
            privacy=PRIVACY,
            labels=forms.LABELS,
            choices=forms.choices(),
            suggestions=forms.condition_suggestions(),
            q=lambda value: quote(str(value), safe=""),
        )

    # -- files --------------------------------------------------------------------------

    @contextmanager
    def cache(self) -> Iterator[Cache]:
        with Cache(self.cache_path) as c:
            yield c

    @contextmanager
    def data(self) -> Iterator[UserData]:
        with UserData(self.user_path) as d:
            yield d

    def freshness(self, cache: Cache) -> dict[str, Any]:
        info = cache.freshness()  # not cache.info(): counting by status takes a while on a large cache
        return {
            "studies": info["studies"],
            "data_timestamp": info["data_timestamp"],
            "newest_fetch": (info["newest_fetch"] or "").replace("T", " ").rstrip("Z"),
            "offline": self.offline,
        }

    # -- pages ----------------------------------------------------------------------------

    def render(self, request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        nonce, new = self.csrf.nonce(request)
        with self.flash_lock:
            flash = self.flashes.pop(request.query_params.get("msg", ""), None)
        html = self.env.get_template(template).render(
            request=request, csrf_field=CSRF_FIELD, csrf=self.csrf.token_for(nonce), flash=flash, **context
        )
        response = HTMLResponse(html, status_code=status_code)
        if new:
            self.csrf.set_cookie(response, nonce)
        return response

    def redirect(
        self, path: str, params: dict[str, str], *, text: str = "", kind: str = "done", field: str = ""
    ) -> Response:
        """After a POST: back to a page (303), with a one-time message kept here, not in the address."""
        if text:
            key = secrets.token_urlsafe(12)
            with self.flash_lock:
                self.flashes[key] = {"kind": kind, "text": text, "field": field}
                while len(self.flashes) > _FLASHES_KEPT:
                    self.flashes.popitem(last=False)
            params = {**params, "msg": key}
        return RedirectResponse(path + ("?" + urlencode(params) if params else ""), status_code=303)

    def error_page(self, request: Request, message: str, status_code: int = 400) -> HTMLResponse:
        return self.render(request, "error.html", status_code=status_code, message=message)


def create_app(
    cache_path: str | Path | None = None,
    user_path: str | Path | None = None,
    token: str | None = None,
    *,
    offline: bool = False,
    api_url: str | None = None,
    allowed_hosts: list[str] | None = None,
) -> Guard:
    """The app, over the cache at ``cache_path`` and the user's data at ``user_path`` (defaults as for the CLI).

    ``token``: every request must carry it (for an app exposed beyond this
    machine). ``allowed_hosts``: the Host names answered (default: loopback
    names only; pass ``["*"]`` to answer any, as when exposed with a token).
    """
    cache_file = config.db_path(cache_path)
    user_file = config.user_db_path(user_path, cache_file)
    web = Web(cache_file, user_file, offline=offline, api_url=api_url)
    routes = [
        Route("/", _page(web, find_page)),
        Route("/trial/{nct_id}", _page(web, trial_page)),
        Route("/patients", _page(web, patients_page)),
        Route("/patients", _post(web, patient_add), methods=["POST"]),
        Route("/patient", _page(web, patient_page)),
        Route("/patient/export", _page(web, patient_export)),
        Route("/patient/update", _post(web, patient_update), methods=["POST"]),
        Route("/patient/shortlist", _post(web, shortlist_add), methods=["POST"]),
        Route("/patient/status", _post(web, shortlist_status), methods=["POST"]),
        Route("/patient/note", _post(web, shortlist_note), methods=["POST"]),
        Route("/patient/remove-trial", _post(web, shortlist_remove), methods=["POST"]),
        Route("/watches", _page(web, watches_page)),
        Route("/watches", _post(web, watch_add), methods=["POST"]),
        Route("/watches/remove", _post(web, watch_remove), methods=["POST"]),
        Route("/watch", _page(web, watch_page)),
        Route("/static/{name}", static_file),
    ]
    app = Starlette(routes=routes)
    app.state.web = web
    hosts = allowed_hosts if allowed_hosts is not None else [*LOOPBACK_HOSTS, "testserver"]
    return Guard(app, token=token, allowed_hosts=None if "*" in hosts else hosts)


# -- plumbing ---------------------------------------------------------------------------------

Handler = Callable[..., Response]


def _page(web: Web, handler: Handler) -> Callable[[Request], Any]:
    """A GET page: the handler runs in a worker thread (the engine and SQLite are blocking)."""

    async def endpoint(request: Request) -> Response:
        return await run_in_threadpool(_guarded, web, handler, request, None)

    return endpoint


def _post(web: Web, handler: Handler) -> Callable[[Request], Any]:
    """A change: the form is read, the CSRF token checked (403 if wrong), then the handler runs."""

    async def endpoint(request: Request) -> Response:
        form = await request.form()
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        if not web.csrf.valid(request, values.get(CSRF_FIELD)):
            return HTMLResponse(
                "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Form expired</title></head><body>"
                "<h1>This form has expired</h1><p>Nothing was changed. Go back, reload the page and try again.</p>"
                "</body></html>",
                status_code=403,
            )
        return await run_in_threadpool(_guarded, web, handler, request, values)

    return endpoint


def _guarded(web: Web, handler: Handler, request: Request, form: dict[str, str] | None) -> Response:
    try:
        return handler(web, request, form) if form is not None else handler(web, request)
    except TrialFinderError as exc:
        return web.error_page(request, str(exc))


STATIC = {"app.css": "text/css", "favicon.svg": "image/svg+xml"}


async def static_file(request: Request) -> Response:
    """The stylesheet and the icon, from the package (nothing is loaded from elsewhere)."""
    name = request.path_params["name"]
    if name not in STATIC:
        return Response("Not found", status_code=404, media_type="text/plain")
    body = resources.files("trialfinder.web").joinpath("static", name).read_bytes()
    return Response(body, media_type=STATIC[name], headers={"cache-control": "max-age=3600"})


def _fetch_note(exc: Exception) -> str:
    return f"Couldn't reach ClinicalTrials.gov ({exc}). Showing what is already on this computer."


# -- Find trials --------------------------------------------------------------------------------


def find_page(web: Web, request: Request) -> Response:
    params = request.query_params
    patient_name = params.get("patient", "")
    with web.data() as data:
        patients = [p.name for p in data.patients()]
        stored = data.patient(patient_name) if patient_name else None
    if stored is not None and not any(params.get(f) for f in forms.FORM_FIELDS):
        form = forms.read(forms.from_stored(stored.profile))
    else:
        form = forms.read(params)
    include_all = params.get("all") == "1"
    hide_flagged = params.get("hide_flagged") == "1"
    results, note, freshness = [], "", None
    with web.cache() as cache:
        if form.profile is not None:
            wanted = STATUSES if include_all else OPEN_STATUSES
            try:
                prepare_cache(
                    cache,
                    web.client_factory,
                    form.profile,
                    statuses=wanted,
                    include_all=include_all,
                    offline=web.offline,
                )
            except NetworkError as exc:
                note = _fetch_note(exc)
                reparse_stale(cache)
            found = match(
                cache, form.profile, statuses=wanted, include_all=include_all, hide_flagged=hide_flagged,
                limit=RESULT_LIMIT,
            )  # fmt: skip
            results = [views.result_view(m) for m in found]
        freshness = web.freshness(cache)
    return web.render(
        request,
        "find.html",
        status_code=400 if form.errors else 200,
        form=form,
        profile=form.profile,
        results=results,
        note=note,
        freshness=freshness,
        include_all=include_all,
        hide_flagged=hide_flagged,
        patients=patients,
        patient=stored.name if stored else "",
        limit=RESULT_LIMIT,
    )


# -- one trial ----------------------------------------------------------------------------------


def trial_page(web: Web, request: Request) -> Response:
    nct_id = normalise_nct_id(request.path_params["nct_id"])
    form = forms.read(request.query_params)
    note = ""
    with web.cache() as cache:
        try:
            record = get_study(cache, web.client_factory, nct_id, offline=web.offline)
        except NetworkError as exc:
            note = _fetch_note(exc)
            record = get_study(cache, web.client_factory, nct_id, offline=True)
        study = Study.from_record(record)
        nct_id = study.nct_id
        trust = with_staleness(assess_trust(study), study.overall_status, study.status_verified_date, dt.date.today())
        checked = None
        if form.profile is not None:
            # As `trialfinder explain`: a stale parse of this one trial is redone as it is loaded,
            # so there is no need to walk the whole cache for stale parses on every page.
            checked = explain(cache, form.profile, nct_id)
            trust = checked.trust
        freshness = web.freshness(cache)
        row = cache.get_row(nct_id)
    with web.data() as data:
        patients = [p.name for p in data.patients()]
    return web.render(
        request,
        "trial.html",
        study=views.study_view(study),
        trust=views.trust_view(trust),
        checklist=views.checklist(checked) if checked else None,
        sites=views.sites_view(study, form.profile),
        questions=views.questions(checked, trust),
        form=form,
        profile=form.profile,
        fetched_at=(row["fetched_at"] if row else "").replace("T", " ").rstrip("Z"),
        freshness=freshness,
        note=note,
        patients=patients,
    )


# -- Coordinator view ---------------------------------------------------------------------------


def patients_page(web: Web, request: Request, form: forms.ProfileForm | None = None, name: str = "", **extra: Any):
    with web.data() as data:
        rows = []
        for p in data.patients():
            counts: dict[str, int] = {}
            for entry in data.entries(p):
                counts[entry.status] = counts.get(entry.status, 0) + 1
            rows.append({"name": p.name, "conditions": ", ".join(p.profile.get("conditions", [])), "counts": counts,
                         "updated": p.updated_at[:10]})  # fmt: skip
    return web.render(
        request,
        "patients.html",
        status_code=400 if form is not None and (form.errors or extra.get("name_error")) else 200,
        patients=rows,
        form=form or forms.ProfileForm(),
        name=name,
        **extra,
    )


def patient_add(web: Web, request: Request, values: dict[str, str]) -> Response:
    name = " ".join(values.get("name", "").split())
    form = forms.read(values)
    if not form.submitted:
        form.errors = {"conditions": "give at least one condition, e.g. spinal cord injury or stroke"}
    name_error = "" if name else "give the patient a name: an alias or a record number is enough, e.g. P-017"
    if form.errors or name_error:
        return patients_page(web, request, form, name, name_error=name_error)
    assert form.profile is not None
    fields = lasting_fields(form.profile)
    with web.data() as data:
        try:
            added = data.add_patient(name, fields)
        except TrialFinderError as exc:
            return patients_page(web, request, form, name, name_error=str(exc))
    text = f"Added patient {added.name}: {form.profile.describe()}."
    frozen = frozen_fields(fields)
    if frozen:
        text += f" Note: {frozen}."
    return web.redirect("/patient", {"name": added.name}, text=text)


def _stored_profile(patient: Patient) -> Profile:
    return load_profile(base=patient.profile, source=f"patient {patient.name}")


def _review(web: Web, data: UserData, cache: Cache, name: str) -> tuple[Patient, Profile, list, str | None, str]:
    """As ``shortlist show``: records older than a day fetched again (unless offline), then re-checked."""
    found = data.patient(name)
    profile = _stored_profile(found)
    note = ""
    if not web.offline:
        try:
            refresh(cache, web.client_factory, data.entries(found))
        except NetworkError as exc:
            note = _fetch_note(exc)
    items = review(cache, data, found, profile)
    return found, profile, items, cache.freshness()["data_timestamp"], note


def patient_page(web: Web, request: Request, name: str | None = None, form: forms.ProfileForm | None = None):
    name = request.query_params.get("name", "") if name is None else name
    with web.data() as data, web.cache() as cache:
        found, profile, items, stamp, note = _review(web, data, cache, name)
        history = data.events(found)
        freshness = web.freshness(cache)
    trials = []
    for item in items:
        view = render_html.trial_view(item)
        view["next_statuses"] = [s for s in (*PIPELINE, *CLOSED) if s in TRANSITIONS[item.entry.status]]
        view["sites"] = view.get("sites", [])[:1]
        trials.append(view)
    return web.render(
        request,
        "patient.html",
        status_code=400 if form is not None and form.errors else 200,
        form=form or forms.read(forms.from_stored(found.profile)),
        patient=found.name,
        profile_text=profile.describe(),
        as_of=str(profile.as_of),
        profile_query=urlencode({"patient": found.name}),
        frozen=frozen_fields(found.profile),
        trials=trials,
        data_timestamp=stamp,
        freshness=freshness,
        note=note,
        history=list(reversed(history[-15:])),
        closed=CLOSED,
    )


def patient_update(web: Web, request: Request, values: dict[str, str]) -> Response:
    """As `patient update --replace`: the form holds every stored field, so what it says is the profile."""
    name = values.get("name", "")
    form = forms.read(values)
    if not form.submitted:
        form.errors = {"conditions": "give at least one condition, e.g. spinal cord injury or stroke"}
    if form.errors:
        return patient_page(web, request, name, form)
    assert form.profile is not None
    fields = lasting_fields(form.profile)
    with web.data() as data:
        updated = data.update_patient(name, fields)
    text = f"Updated patient {updated.name}: {form.profile.describe()}."
    frozen = frozen_fields(fields)
    return web.redirect("/patient", {"name": updated.name}, text=text + (f" Note: {frozen}." if frozen else ""))


def patient_export(web: Web, request: Request) -> Response:
    name = request.query_params.get("name", "")
    fmt = request.query_params.get("format", "csv")
    if fmt not in ("csv", "html", "md"):
        return web.error_page(request, f"unknown export format {fmt!r}: use csv, html or md")
    with web.data() as data, web.cache() as cache:
        found, profile, items, stamp, _ = _review(web, data, cache, name)
    slug = "".join(c if c.isalnum() or c in "-_" else "-" for c in found.name) or "patient"
    if fmt == "csv":
        body, media = render_shortlist.csv_text(items), "text/csv; charset=utf-8"
    elif fmt == "md":
        body, media = render_shortlist.markdown(found, profile, items, stamp), "text/markdown; charset=utf-8"
    else:
        printed = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
        body, media = render_html.shortlist_html(found, profile, items, stamp, printed), "text/html; charset=utf-8"
    headers = {"content-disposition": f'attachment; filename="shortlist-{slug}.{fmt}"'}
    if fmt == "html":  # the export's own inline styles, and nothing else
        headers["content-security-policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return Response(body, media_type=media, headers=headers)


def _back(values: dict[str, str], default: str, params: dict[str, str]) -> tuple[str, dict[str, str]]:
    """Where to go after a change: the page it came from (only paths of this app), else ``default``."""
    path, _, query = values.get("back", "").partition("?")
    if re.fullmatch(r"/[A-Za-z0-9_./-]*", path) and not path.startswith("//"):
        return path, {k: v for k, v in parse_qsl(query.split("#")[0]) if k != "msg"}
    return default, params


def shortlist_add(web: Web, request: Request, values: dict[str, str]) -> Response:
    name = values.get("name", "")
    nct_ids = [n for n in values.get("nct_id", "").replace(",", " ").split() if n]
    if not nct_ids:
        return web.redirect("/patient", {"name": name}, text="give an NCT id to add", kind="error", field="add")
    note = values.get("note", "").strip() or None
    with web.data() as data, web.cache() as cache:
        found = data.patient(name)
        profile = _stored_profile(found)
        try:
            items = prepare_entries(cache, web.client_factory, profile, nct_ids, offline=web.offline)
        except NetworkError:
            items = prepare_entries(cache, web.client_factory, profile, nct_ids, offline=True)
        except TrialFinderError as exc:
            path, params = _back(values, "/patient", {"name": found.name})
            return web.redirect(path, params, text=str(exc), kind="error", field="add")
        added, present = data.add_entries(found, items, note=note)
    parts = []
    if added:
        parts.append(f"Added to {found.name}'s shortlist as candidates: {', '.join(added)}.")
    if present:
        parts.append(f"Already on {found.name}'s shortlist: {', '.join(present)}.")
    path, params = _back(values, "/patient", {"name": found.name})
    return web.redirect(path, params, text=" ".join(parts))


def shortlist_status(web: Web, request: Request, values: dict[str, str]) -> Response:
    name, nct_id = values.get("name", ""), normalise_nct_id(values.get("nct_id", ""))
    with web.data() as data:
        found = data.patient(name)
        try:
            entry = data.set_status(found, nct_id, values.get("status", ""), values.get("reason"))
        except TrialFinderError as exc:
            return web.redirect("/patient", {"name": found.name}, text=str(exc), kind="error", field=f"status-{nct_id}")
    return web.redirect("/patient", {"name": found.name}, text=f"{entry.nct_id} is now {entry.status}.")


def shortlist_note(web: Web, request: Request, values: dict[str, str]) -> Response:
    name, nct_id = values.get("name", ""), normalise_nct_id(values.get("nct_id", ""))
    with web.data() as data:
        found = data.patient(name)
        try:
            entry = data.set_note(found, nct_id, values.get("note", ""))
        except TrialFinderError as exc:
            return web.redirect("/patient", {"name": found.name}, text=str(exc), kind="error", field=f"note-{nct_id}")
    return web.redirect("/patient", {"name": found.name}, text=f"Noted on {entry.nct_id}.")


def shortlist_remove(web: Web, request: Request, values: dict[str, str]) -> Response:
    name, nct_id = values.get("name", ""), normalise_nct_id(values.get("nct_id", ""))
    with web.data() as data:
        found = data.patient(name)
        data.remove_entries(found, [nct_id])
    return web.redirect(
        "/patient", {"name": found.name}, text=f"Removed {nct_id} from {found.name}'s shortlist (the history keeps it)."
    )


# -- Watches ------------------------------------------------------------------------------------


def watches_page(web: Web, request: Request, form: forms.ProfileForm | None = None, **extra: Any) -> Response:
    with web.data() as data:
        names = {p.id: p.name for p in data.patients()}
        rows = [
            {
                "name": w.name,
                "follows": follows(w, names.get(w.patient_id)),
                "every": w.every,
                "email": w.email or "",
                "last_run": (w.last_run_at or "never").replace("T", " ").rstrip("Z"),
                "waiting": len(pending_items(data, w)),
            }
            for w in list_watches(data)
        ]
    bad = form is not None and (form.errors or any(k.endswith("_error") and v for k, v in extra.items()))
    return web.render(
        request,
        "watches.html",
        status_code=400 if bad else 200,
        watches=rows,
        patients=sorted(names.values(), key=str.lower),
        frequencies=FREQUENCIES,
        form=form or forms.ProfileForm(),
        **extra,
    )


def watch_add(web: Web, request: Request, values: dict[str, str]) -> Response:
    name = " ".join(values.get("name", "").split())
    patient_name = values.get("patient", "")
    email = values.get("email", "").strip()
    every = values.get("every", "weekly")
    form = forms.read(values)
    errors = {"name_error": "" if name else "give the watch a name, e.g. P-017-weekly"}
    if email and ("@" not in email or " " in email or "." not in email.split("@")[-1]):
        errors["email_error"] = f"{email!r} is not an email address, e.g. name@example.org"
    if patient_name and form.submitted:
        errors["patient_error"] = "choose a patient or fill in a profile, not both"
    elif not patient_name and not form.submitted:
        errors["patient_error"] = "choose a patient, or fill in a profile below"
    keep = {"name": name, "email": email, "every": every, "notify_empty": values.get("notify_empty") == "1",
            "chosen_patient": patient_name}  # fmt: skip
    if form.errors or any(errors.values()):
        return watches_page(web, request, form, **errors, **keep)
    with web.data() as data:
        patient = data.patient(patient_name) if patient_name else None
        fields = None if patient is not None else lasting_fields(form.profile)  # type: ignore[arg-type]
        try:
            added = add_watch(
                data, name, patient=patient, profile_fields=fields, email=email or None, every=every,
                notify_empty=keep["notify_empty"],
            )  # fmt: skip
        except TrialFinderError as exc:
            return watches_page(web, request, form, name_error=str(exc), **keep)
    return web.redirect("/watch", {"name": added.name}, text=f"Watching as {added.name!r} ({added.every}).")


def watch_remove(web: Web, request: Request, values: dict[str, str]) -> Response:
    with web.data() as data:
        found = remove_watch(data, values.get("name", ""))
    return web.redirect("/watches", {}, text=f"Stopped watch {found.name!r}. What it saw stays in your data file.")


def watch_page(web: Web, request: Request) -> Response:
    with web.data() as data:
        found = get_watch(data, request.query_params.get("name", ""))
        names = {p.id: p.name for p in data.patients()}
        waiting = pending_items(data, found)
        sent = deliveries(data, found)
        last = last_digest_items(data, found.id)
    return web.render(
        request,
        "watch.html",
        watch=found,
        follows=follows(found, names.get(found.patient_id)),
        waiting=views.digest_sections(waiting),
        n_waiting=len(waiting),
        deliveries=sent,
        last=views.digest_sections(last[1]) if last else [],
        last_at=(last[0] if last else "").replace("T", " ").rstrip("Z"),
    )


def last_digest_items(data: UserData, watch_id: int) -> tuple[str, list[DigestItem]] | None:
    """The items of the watch's most recent successful delivery (what the last digest said), read-only."""
    with data.errors("read"):
        row = data.db.execute(
            "SELECT id, at FROM deliveries WHERE watch_id = ? AND ok = 1 ORDER BY id DESC LIMIT 1", [watch_id]
        ).fetchone()
        if row is None:
            return None
        rows = data.db.execute(
            "SELECT id, kind, key, nct_id, payload FROM digest_items WHERE delivery_id = ? ORDER BY id", [row[0]]
        ).fetchall()
    items = []
    for item_id, kind, key, nct_id, payload in rows:
        p = json.loads(payload)
        items.append(
            DigestItem(kind, key, nct_id, p["title"], p["reason"], p.get("url"), p.get("warnings", []), item_id)
        )
    return row[1], items
