from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import FileResponse

STATIC = Path(__file__).resolve().parent.parent / "static"

# Everything the page uses comes from this server: the policy makes the browser refuse anything
# else, and it is a second wall (after text-only rendering) against a reply run as script.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidated on every load (a cheap 304), so an upgraded server never runs a stale script.
    "Cache-Control": "no-cache",
}

_ASSET_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}

router = APIRouter(tags=["page"], include_in_schema=False)


@router.get("/")
async def page() -> FileResponse:
    """The chat page: HTML, CSS and plain JavaScript from api/static, nothing from elsewhere."""
    return FileResponse(
        STATIC / "index.html", media_type="text/html; charset=utf-8", headers=_PAGE_HEADERS
    )


@router.get("/static/{name}")
async def asset(name: str) -> FileResponse:
    """A stylesheet or script of the page: only .css and .js files directly in api/static."""
    path = STATIC / name
    media_type = _ASSET_TYPES.get(path.suffix)
    if media_type is None or path.name != name or not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
    return FileResponse(path, media_type=media_type, headers=_PAGE_HEADERS)
