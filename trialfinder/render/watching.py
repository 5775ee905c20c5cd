"""Watches as text: the list, one watch's page, and a line per digest outcome."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..digest import Outcome
from ..watches import Item, Watch
from .text import table


def follows(watch: Watch, patient_name: str | None) -> str:
    if watch.patient_id is not None:
        return f"patient {patient_name or '(removed)'}"
    return "profile: " + ", ".join((watch.profile_fields or {}).get("conditions", []))


def watch_item(watch: Watch, patient_name: str | None, pending: int) -> dict[str, Any]:
    return {
        "name": watch.name,
        "follows": follows(watch, patient_name),
        "every": watch.every,
        "email": watch.email,
        "notify_empty": watch.notify_empty,
        "last_run_at": watch.last_run_at,
        "pending_items": pending,
    }


def watches_table(rows: Sequence[tuple[Watch, int]], names: dict[int, str]) -> str:
    if not rows:
        return "No watches yet. Add one with: trialfinder watch add NAME --patient NAME (or --profile FILE)"
    body = [
        [w.name, follows(w, names.get(w.patient_id)), w.every, w.email or "-", (w.last_run_at or "never")[:16], str(n)]
        for w, n in rows
    ]
    return table(["Watch", "Follows", "Every", "Email", "Last run", "Waiting"], body)


def watch_page(watch: Watch, patient_name: str | None, waiting: Sequence[Item], sent: Sequence[dict]) -> str:
    lines = [
        f"Watch {watch.name}",
        f"  Follows:   {follows(watch, patient_name)}",
        f"  Every:     {watch.every}" + (" (sends a notice when nothing is new)" if watch.notify_empty else ""),
        f"  Sends to:  {watch.email or 'stdout, or files with digest --out'}",
        f"  Created:   {watch.created_at[:10]}; last run: {watch.last_run_at or 'never'}",
        f"  Waiting to be sent: {len(waiting)} item(s)",
    ]
    lines += [f"    - {i.nct_id or ''} {i.reason}" for i in waiting[:10]]
    if sent:
        lines.append("  Recent deliveries:")
        for d in sent:
            result = "sent" if d["ok"] else f"FAILED: {d['error']}"
            lines.append(f"    {d['at']}  {d['method']} {d['target'] or ''}  {d['n_items']} item(s)  {result}")
    return "\n".join(lines)


def outcome_line(outcome: Outcome) -> str:
    name = outcome.watch.name
    if outcome.result == "sent":
        return f"{name}: sent {len(outcome.items)} item(s) ({outcome.detail})"
    if outcome.result == "nothing":
        return f"{name}: nothing new" + (f" (notice sent: {outcome.detail})" if outcome.detail else "")
    if outcome.result == "not-due":
        return f"{name}: not due ({outcome.detail})"
    return f"{name}: {outcome.result} {outcome.detail}".strip()
