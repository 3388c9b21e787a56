"""``/docs``: Swagger UI served from the installed ``swagger-ui-bundle`` package, never a CDN.

The page shares its origin with the dashboard's key cookie, so it loads nothing from elsewhere and
says so in a content security policy: scripts, styles and images from this server only (Swagger UI
sets inline styles, hence ``'unsafe-inline'`` for styles alone). Works offline, like the product.
"""

from __future__ import annotations

from typing import Any

ASSETS = "/docs/assets"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - API docs</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
</head><body><div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body></html>
"""
_INIT = """window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"});
"""


def add_docs(app: Any) -> None:
    """Mount the Swagger UI assets and the ``/docs`` page (with its CSP) on ``app``."""
    from fastapi.responses import HTMLResponse, Response
    from starlette.staticfiles import StaticFiles
    from swagger_ui_bundle import swagger_ui_path

    headers = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
    app.mount(ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(_PAGE.format(title=app.title, assets=ASSETS), headers=headers)

    @app.get("/docs/init.js", include_in_schema=False)
    async def docs_init() -> Response:
        return Response(_INIT, media_type="text/javascript", headers=headers)
