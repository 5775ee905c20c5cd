"""``trialfinder serve``: the same engine and files as the CLI, as pages in a browser on this machine.

``create_app`` builds the app (Starlette, Jinja2 templates, no scripts, nothing
loaded from elsewhere); ``cli/serve.py`` runs it with uvicorn on 127.0.0.1.
"""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
