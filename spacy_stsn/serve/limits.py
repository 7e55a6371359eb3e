"""The request body limit (``--max-body-bytes``), as ASGI middleware: a body over the
limit is answered 413 before the app parses it, whether the client announced its length
or streamed it in chunks."""

import json
from typing import List

from .metrics import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    """Answer 413 to a request whose body is over ``max_bytes``; hand the others' body
    to ``app`` as read."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        announced = dict(scope["headers"]).get(b"content-length")
        # (an unreadable length never gets here: the HTTP server answers it 400)
        if announced is not None and int(announced) > self.max_bytes:
            await self._too_large(send, announced.decode("latin-1"))
            return
        chunks: List[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away: nobody to answer
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._too_large(send, f"more than {self.max_bytes}")
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send, size: str) -> None:
        detail = (
            f"the body has {size} bytes, the most this server takes is "
            f"{self.max_bytes:,} (--max-body-bytes)"
        )
        body = json.dumps({"detail": detail}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
