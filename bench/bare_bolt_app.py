"""A bare Bolt app that only acks: the baseline `bench/ack_latency.py` compares Trustbot against.

Same Bolt version, same `AsyncApp` settings Trustbot uses in HTTP mode (signature verification
on, `process_before_response=False`), same aiohttp adapter path
(`to_bolt_request` → `async_dispatch` → `to_aiohttp_response`). It answers `/trust` with a short
ephemeral text and acks the Approve button, and does nothing else.

    SLACK_SIGNING_SECRET=… SLACK_BOT_TOKEN=xoxb-… SLACK_API_URL=http://127.0.0.1:PORT/api/ \
        HOST=127.0.0.1 PORT=3001 .venv/bin/python bench/bare_bolt_app.py

Serves `POST /slack/events` and `GET /readyz` until SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from trustbot.ids import Action


def build_app(*, token: str, signing_secret: str, api_url: str) -> AsyncApp:
    """The Bolt app: `/trust` and the Approve button, both acked at once."""
    app = AsyncApp(
        client=AsyncWebClient(token=token, base_url=api_url),
        signing_secret=signing_secret,
        request_verification_enabled=True,
        process_before_response=False,
        logger=logging.getLogger("bare.bolt"),
    )

    @app.command("/trust")
    async def trust(ack: Any) -> None:
        await ack(text="Trustbot helps you request trusted access. Try `/trust request`.", response_type="ephemeral")

    @app.action(Action.REQUEST_APPROVE)
    async def approve(ack: Any) -> None:
        await ack()

    return app


def build_web_app(bolt: AsyncApp) -> web.Application:
    """`/slack/events` through Bolt's aiohttp adapter, plus `/readyz` for the bench to wait on."""

    async def slack_events(request: web.Request) -> web.Response:
        bolt_request = await to_bolt_request(request)
        bolt_response = await bolt.async_dispatch(bolt_request)
        return await to_aiohttp_response(bolt_response)

    async def readyz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application(client_max_size=2 * 1024 * 1024)
    app.router.add_post("/slack/events", slack_events)
    app.router.add_get("/readyz", readyz)
    return app


async def main() -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "WARNING"), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    bolt = build_app(
        token=os.environ.get("SLACK_BOT_TOKEN", "xoxb-bench"),
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        api_url=os.environ.get("SLACK_API_URL", "https://slack.com/api/"),
    )
    runner = web.AppRunner(build_web_app(bolt), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "3001")))
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
