"""The Socket Mode side of the fake Slack: a WebSocket that sends envelopes and collects acks."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from aiohttp import WSMsgType, web


class FakeSocketMode:
    """Serves `/socket` like Slack's Socket Mode endpoint (`apps.connections.open` points here)."""

    def __init__(self, app_id: str) -> None:
        self.app_id = app_id
        self._sockets: list[web.WebSocketResponse] = []
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] = {}

    async def close(self) -> None:
        """Close every connection and cancel acks still awaited."""
        for ws in list(self._sockets):
            await ws.close()
        for future in self._acks.values():
            if not future.done():
                future.cancel()

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """`GET /socket`: say hello, then resolve acks by envelope id."""
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(self._sockets),
                "connection_info": {"app_id": self.app_id},
                "debug_info": {},
            }
        )
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    continue
                future = self._acks.get(data.get("envelope_id", "")) if isinstance(data, dict) else None
                if future is not None and not future.done():
                    future.set_result(data)
        finally:
            if ws in self._sockets:
                self._sockets.remove(ws)
        return ws

    async def send_envelope(
        self, type_: str, payload: dict[str, Any], *, accepts_response_payload: bool = False, timeout: float = 5
    ) -> dict[str, Any]:
        """Send a Socket Mode envelope to the connected client; return its ack."""
        deadline = time.monotonic() + timeout
        while not [ws for ws in self._sockets if not ws.closed]:
            if time.monotonic() > deadline:
                raise TimeoutError("no Socket Mode client connected to the fake Slack")
            await asyncio.sleep(0.02)
        ws = [ws for ws in self._sockets if not ws.closed][-1]
        envelope_id = str(uuid.uuid4())
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._acks[envelope_id] = future
        try:
            await ws.send_json(
                {
                    "envelope_id": envelope_id,
                    "type": type_,
                    "payload": payload,
                    "accepts_response_payload": accepts_response_payload,
                    "retry_attempt": 0,
                    "retry_reason": "",
                }
            )
            return await asyncio.wait_for(future, timeout=max(0.01, deadline - time.monotonic()))
        finally:
            self._acks.pop(envelope_id, None)
