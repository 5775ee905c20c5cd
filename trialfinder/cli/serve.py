"""``trialfinder serve``: the web app on this machine (see ``trialfinder/web``)."""

from __future__ import annotations

import ipaddress
import secrets
import socket
import sys
import threading
import webbrowser

import click

from .. import config
from .options import db_option

DEFAULT_PORT = 8765


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: any free port), or one clear line saying why not."""
    sock = None
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        if sock is not None:
            sock.close()
        hint = " (choose another with --port)" if getattr(exc, "errno", None) in (98, 48, 10048) else ""
        raise click.ClickException(f"can't listen on {host}:{port}: {exc.strerror or exc}{hint}") from None
    sock.set_inheritable(True)
    return sock


def url_for(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "localhost") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Anything but this machine (127.0.0.1) exposes the app and needs a token.",
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True, help="Port (0: any free one)."
)
@click.option(
    "--token",
    help="Access token every request must carry (made up and printed when --host exposes the app and none is given).",
)
@click.option("--open/--no-open", "open_browser", default=True, show_default=True, help="Open the page in a browser.")
@click.option("--offline", is_flag=True, help="Never use the network; pages answer from the cache only.")
@click.option(
    "--api-url",
    envvar=config.ENV_API_URL,
    show_envvar=True,
    help=f"Registry API base URL [default: {config.DEFAULT_API_URL}].",
)
@db_option
def serve(
    host: str, port: int, token: str | None, open_browser: bool, offline: bool, api_url: str | None, db_path: str | None
) -> None:
    """Run the web pages on this computer: find trials, trial pages, shortlists, watches.

    The same engine and the same files as the other commands (the cache and
    your user data beside it). It listens on 127.0.0.1 only, so nothing is
    reachable from the network, unless --host says otherwise; then every
    request needs an access token (printed here). Stop it with Ctrl+C.

    \b
    Examples:
      trialfinder serve
      trialfinder serve --port 9000 --no-open
      trialfinder serve --host 0.0.0.0 --token "$(cat ~/.trialfinder-token)"
    """
    import uvicorn

    from ..web import create_app

    exposed = not is_loopback(host)
    if exposed:
        token = token or secrets.token_urlsafe(24)
        click.echo(
            f"Warning: listening on {host} makes these pages, with your patients and shortlists, reachable from "
            "other computers on the network. Every request needs the access token below; share it only with people "
            "who may see this data. The connection is not encrypted (plain http).",
            err=True,
        )
    sock = bind(host, port)
    port = sock.getsockname()[1]
    app = create_app(db_path, None, token, offline=offline, api_url=api_url, allowed_hosts=["*"] if exposed else None)
    url = url_for(host, port) + (f"?token={token}" if token else "")
    click.echo(f"trialfinder is running at {url}")
    if token:
        click.echo(f"Access token: {token}")
    click.echo("Press Ctrl+C to stop. Nothing here is medical advice; talk to the study team and your own clinicians.")
    sys.stdout.flush()
    if open_browser:
        threading.Timer(0.8, webbrowser.open, [url]).start()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    click.echo("Stopped.", err=True)
