"""Serving the built single-page app: its files as they are, and ``index.html`` for every page of the app.

The app routes in the browser (``/events/{id}``, ``/trace/{id}``, ``/live?type=…``), so a deep
link must answer with ``index.html``. A missing file under ``assets/``, or a path ending in
a web file's extension (``.js``, ``.css``, ``.ico``…), answers 404 instead: a browser asking
for a script must never get a page back. Other dotted paths are pages
(``/schemas/retail.offer.surfaced.v1``).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

__all__ = ["INDEX", "SinglePageApp"]

INDEX = "index.html"

_IMMUTABLE = "public, max-age=31536000, immutable"
"""Files under ``assets/`` carry a content hash in their name, so they never change."""
_REVALIDATE = "no-cache"


_FILE_SUFFIXES = frozenset(
    {".js", ".mjs", ".css", ".map", ".json", ".txt", ".html", ".xml", ".webmanifest"}
    | {".ico", ".png", ".svg", ".jpg", ".jpeg", ".gif", ".webp", ".woff", ".woff2", ".ttf"}
)


def _names_a_file(path: str) -> bool:
    parts = PurePosixPath(path)
    return parts.parts[:1] == ("assets",) or parts.suffix.lower() in _FILE_SUFFIXES


class SinglePageApp(StaticFiles):
    """The bundle in ``directory``, with ``index.html`` for the app's own routes."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory, check_dir=False)
        self.root = directory

    @property
    def built(self) -> bool:
        return (self.root / INDEX).is_file()

    async def check_config(self) -> None:
        # A missing bundle is answered 503 with how to build it (get_response), not a crash.
        if self.built:
            await super().check_config()

    async def get_response(self, path: str, scope: Scope) -> Response:
        if not self.built:
            raise HTTPException(503, f"the UI bundle is missing in {self.root}: build it with `npm run build:ui`")
        try:
            response = await super().get_response(path, scope)
        except HTTPException as exc:
            if exc.status_code != 404:  # noqa: PLR2004 - only a missing page falls back
                raise
            if _names_a_file(path):
                raise HTTPException(404, f"no file {path!r} in the UI bundle") from exc
            response = await super().get_response(INDEX, scope)
            path = INDEX
        immutable = PurePosixPath(path).parts[:1] == ("assets",)
        response.headers["Cache-Control"] = _IMMUTABLE if immutable else _REVALIDATE
        return response
