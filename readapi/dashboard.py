"""The dashboard page per clip and the files it loads.

The page is static (web/dashboard.html); its script reads the clip id from
the path and the read token from ``?token=``, and draws what
``/api/consumption/clips/{clipId}`` answers with Chart.js. The browser may
have no internet, so the charting library is served from web/node_modules
(``npm ci`` in web/, which `make install` runs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, HTMLResponse, Response

from readapi.auth import ReadTokens, Unauthorized

WEB = Path(__file__).resolve().parents[1] / "web"
# Only these files are served: a name never becomes a path.
ASSETS = {
    "chart.umd.min.js": WEB / "node_modules" / "chart.js" / "dist" / "chart.umd.min.js",
    "dashboard.js": WEB / "dashboard.js",
    "dashboard.css": WEB / "dashboard.css",
}
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
# Scripts and styles from this server only; the data comes from the same origin.
POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
          "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
REFUSED = """<!doctype html><meta charset="utf-8"><title>Playhead: read token needed</title>
<p style="font-family:system-ui;margin:3rem">This dashboard needs a read token of your
organization: open it as <code>/dashboard/clips/&lt;clip id&gt;?token=&lt;token&gt;</code>.
{reason}</p>"""


def dashboard_router(tokens: ReadTokens) -> APIRouter:
    routes = APIRouter(tags=["dashboard"])

    @routes.get("/dashboard/clips/{clipId:path}", response_class=HTMLResponse,
                summary="The dashboard page of a clip (HTML)",
                description="Retention curve, key figures and the split by source, with a "
                "date-range picker. The token goes in the query because a link is how people "
                "share a dashboard; the page sends it on as a Bearer header.")
    def page(clipId: str,
             token: Annotated[str | None, Query(description="A read token")] = None) -> Response:
        try:
            tokens.organization(token)
        except Unauthorized as err:
            return HTMLResponse(REFUSED.format(reason=_escape(str(err))), status_code=401,
                                headers={"Content-Security-Policy": POLICY})
        html = WEB / "dashboard.html"
        if not html.exists():  # an install without the repository's web/ folder
            return Response(f"the dashboard's files are not installed ({WEB})",
                            status_code=503, media_type="text/plain")
        return HTMLResponse(html.read_text(), headers={
            "Content-Security-Policy": POLICY, "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer"})  # the token is in this page's URL

    @routes.get("/assets/{name}", include_in_schema=False)
    def asset(name: str) -> Response:
        path = ASSETS.get(name)
        if path is None or not path.exists():
            hint = " (run `npm ci` in web/, or `make install`)" if name in ASSETS else ""
            return Response(f"no asset {name!r}{hint}", status_code=404,
                            media_type="text/plain")
        return FileResponse(path, media_type=TYPES[path.suffix],
                            headers={"Cache-Control": "public, max-age=3600"})

    return routes


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
