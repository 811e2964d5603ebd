"""`/docs` (Swagger UI) and `/redoc`, whose scripts and styles the API serves itself.

FastAPI's own pages load them from cdn.jsdelivr.net (and ReDoc its fonts from Google), so
they stay blank where the API has no internet. Here they come from `api/static/vendor/`
(see its README.md), mounted at `/static`. Both pages and the assets are public, like
`/openapi.json`: the routes are on a plain router, not a `keyed_router`.

The OAuth2 redirect page FastAPI adds beside `/docs` is left out: the API's only security
scheme is an HTTP bearer key, which Swagger UI's Authorize dialog takes without a redirect.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.routing import Mount
from starlette.types import Receive, Scope, Send

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
STATIC_PATH = "/static"
SWAGGER_UI = f"{STATIC_PATH}/vendor/swagger_ui"
REDOC = f"{STATIC_PATH}/vendor/redoc"

router = APIRouter(include_in_schema=False)


def _root(request: Request) -> str:
    """The prefix a proxy mounts the app under (`root_path`), as FastAPI's own pages use it."""
    root_path: str = request.scope.get("root_path", "")
    return root_path.rstrip("/")


def _openapi_url(request: Request) -> str:
    openapi_url: str = request.app.openapi_url
    return _root(request) + openapi_url


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    """The interactive documentation, with the Authorize button for an API key."""
    root = _root(request)
    return get_swagger_ui_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{root}{SWAGGER_UI}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{SWAGGER_UI}/swagger-ui.css",
        swagger_favicon_url=f"{root}{SWAGGER_UI}/favicon-32x32.png",
        # Off: on any host but localhost, Swagger UI would fetch a badge from swagger.io.
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    """The same document as one long page; the system's fonts instead of Google's."""
    root = _root(request)
    return get_redoc_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{root}{REDOC}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{SWAGGER_UI}/favicon-32x32.png",
        with_google_fonts=False,
    )


class _Assets(StaticFiles):
    """The files under `/static`, which name their mount as the request's route.

    FastAPI's router names only its own routes in `scope["route"]`, so RequestMetrics would
    count every asset, found or not, as `unmatched`; this way they are counted as `/static`.
    """

    def __init__(self) -> None:
        super().__init__(directory=STATIC_DIR)
        self.mount = Mount(STATIC_PATH, app=self, name="static")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self.mount
        await super().__call__(scope, receive, send)


def install_docs(app: FastAPI) -> None:
    """Serves `/static` and the two pages (the app must be made with docs_url=redoc_url=None)."""
    app.router.routes.append(_Assets().mount)
    app.include_router(router)
