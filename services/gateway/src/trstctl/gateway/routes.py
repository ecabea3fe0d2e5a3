"""HTTP routes of the gateway."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(_: web.Request) -> web.Response:
    """The gateway answers HTTP (the skeleton's own ``/healthz`` reports NATS too)."""
    return web.json_response({"status": "ok", "service": "gateway"})
