"""Serving a reward model over HTTP (``selfif serve-rm``): FastAPI + uvicorn with micro-batching.

During GRPO many reward calls arrive at once (one per rollout worker / process). Scoring each
request on its own wastes the batch dimension, so requests go into an asyncio queue; a single
worker takes the first waiting request, keeps collecting for ``batch_window_ms`` (or until
``max_batch_items``), runs *one* scoring call in a worker thread, and fans the scores back out.

Defensive limits, all checked before any model work: the request body is read with a byte cap
(413 before JSON parsing; ``Content-Length`` is checked first, and a chunked body is counted as
it streams), the number of items per request is capped (413), and the body is validated by
pydantic (422 with the reason); a body that is not declared ``application/json`` gets 415.
Each item's text is cut to the model's length before tokenizing (:mod:`selfif.reward.template`),
so one huge item cannot hold the scoring worker. A body must arrive within
``body_timeout_s`` (408 otherwise), so a client that sends slowly, or stops mid-body, cannot hold
a connection and its buffer open; a client that disconnects mid-body costs one log line, not a
traceback. The server binds 127.0.0.1 unless told otherwise, and serves no ``/docs`` or
``/openapi.json`` unless asked (``--docs``). The port is bound before uvicorn starts, so a port
in use is an ``OSError`` naming ``host:port`` (the CLI's one-line error), not a log and exit 3.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect
from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = logging.getLogger(__name__)


class ScoreItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    response: str
    constraint: str = Field(min_length=1)
    instruction: str | None = None


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[ScoreItem]


class ScoreResponse(BaseModel):
    scores: list[float]


@dataclass
class ServerLimits:
    max_body_bytes: int = 8 * 1024 * 1024
    max_items: int = 1024
    batch_window_ms: float = 5.0
    max_batch_items: int = 256
    body_timeout_s: float = 30.0  # the whole request body must arrive within this


class _TooLarge(Exception):
    pass


class _TooSlow(Exception):
    pass


class MicroBatcher:
    """Collect concurrent requests for a few ms and score them in one call."""

    def __init__(self, score_fn, window_ms: float, max_items: int):
        self.score_fn = score_fn
        self.window = window_ms / 1000.0
        self.max_items = max_items
        self.queue: asyncio.Queue = asyncio.Queue()
        self.task: asyncio.Task | None = None
        self.batches = 0  # number of scoring calls (observable in /health; tests check batching)

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass

    async def submit(self, items: list[tuple[str, str, str | None]]) -> list[float]:
        fut = asyncio.get_running_loop().create_future()
        await self.queue.put((items, fut))
        return await fut

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            group = [await self.queue.get()]
            n = len(group[0][0])
            deadline = loop.time() + self.window
            while n < self.max_items:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    nxt = await asyncio.wait_for(self.queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
                group.append(nxt)
                n += len(nxt[0])
            flat = [it for items, _ in group for it in items]
            try:
                scores = await asyncio.to_thread(self.score_fn, flat)
                self.batches += 1
            except Exception as e:  # noqa: BLE001 - reported to every waiting request as a 500
                log.exception("scoring failed")
                for _, fut in group:
                    if not fut.done():
                        fut.set_exception(e)
                continue
            pos = 0
            for items, fut in group:
                if not fut.done():
                    fut.set_result(scores[pos : pos + len(items)])
                pos += len(items)


def _is_json(content_type: str | None) -> bool:
    """``application/json`` or a ``+json`` type, parameters (charset) ignored."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def create_app(rm, limits: ServerLimits | None = None, *, docs: bool = False):
    """FastAPI app scoring with ``rm`` (anything with ``score(items) -> list[float]``).

    ``docs``: serve ``/docs`` and ``/openapi.json``. Off by default: a scoring endpoint has no
    use for an interactive console, and it describes the service to anyone who can reach it.
    """
    limits = limits or ServerLimits()
    batcher = MicroBatcher(rm.score, limits.batch_window_ms, limits.max_batch_items)

    @asynccontextmanager
    async def lifespan(app):
        batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(
        title="selfif constraint reward model", lifespan=lifespan,
        docs_url="/docs" if docs else None, redoc_url=None, openapi_url="/openapi.json" if docs else None,
    )
    app.state.batcher = batcher

    async def read_capped(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limits.max_body_bytes:
            raise _TooLarge(f"request body of {declared} bytes exceeds the limit of {limits.max_body_bytes}")
        chunks, size = [], 0

        async def read() -> None:
            nonlocal size
            async for chunk in request.stream():
                size += len(chunk)
                if size > limits.max_body_bytes:
                    raise _TooLarge(f"request body exceeds the limit of {limits.max_body_bytes} bytes")
                chunks.append(chunk)

        try:
            await asyncio.wait_for(read(), limits.body_timeout_s)
        except asyncio.TimeoutError:
            raise _TooSlow(f"request body not received within {limits.body_timeout_s:g} s ({size} bytes arrived)") from None
        return b"".join(chunks)

    @app.get("/health")
    async def health():
        meta = getattr(rm, "meta", {})
        return {
            "status": "ok",
            "backbone": meta.get("backbone"),
            "template_id": meta.get("template_id"),
            "max_items": limits.max_items,
            "max_body_bytes": limits.max_body_bytes,
            "batches": batcher.batches,
        }

    @app.post("/score", response_model=ScoreResponse)
    async def score(request: Request):
        try:
            body = await read_capped(request)
        except _TooLarge as e:
            return JSONResponse({"detail": str(e)}, status_code=413)
        except _TooSlow as e:
            log.info("client %s: %s; answered 408", _peer(request), e)
            return JSONResponse({"detail": str(e)}, status_code=408, headers={"Connection": "close"})
        except ClientDisconnect:  # nobody to answer: one line, not an ASGI traceback
            log.info("client %s disconnected before sending the whole request body", _peer(request))
            return Response(status_code=400)
        if not _is_json(request.headers.get("content-type")):
            return JSONResponse({"detail": "Content-Type must be application/json"}, status_code=415)
        try:
            req = ScoreRequest.model_validate_json(body)
        except ValidationError as e:
            reasons = [f"{'.'.join(map(str, err['loc'])) or 'body'}: {err['msg']}" for err in e.errors()]
            return JSONResponse({"detail": "; ".join(reasons)}, status_code=422)
        if len(req.items) > limits.max_items:
            return JSONResponse(
                {"detail": f"{len(req.items)} items exceed the limit of {limits.max_items} per request"}, status_code=413
            )
        scores = await batcher.submit([(it.response, it.constraint, it.instruction) for it in req.items])
        return {"scores": scores}

    return app


def _peer(request: Request) -> str:
    return f"{request.client.host}:{request.client.port}" if request.client else "?"


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``; a failure (port in use, no such address) is an
    ``OSError`` whose filename is ``host:port``, so the CLI reports it as one located line."""
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as e:
        raise OSError(e.errno, e.strerror or str(e), f"{host}:{port}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # what uvicorn does: restart without waiting
        sock.bind(addr)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        raise OSError(e.errno, e.strerror, f"{host}:{port}") from None
    sock.set_inheritable(True)
    return sock


def serve(checkpoint: str, host: str = "127.0.0.1", port: int = 8008, limits: ServerLimits | None = None, *, docs: bool = False) -> None:
    """Load a checkpoint and serve it until interrupted (a bad checkpoint raises a located
    :class:`~selfif.io.InputError` before the port is bound; a port in use, an ``OSError``
    naming it before uvicorn starts)."""
    import uvicorn

    from selfif.reward.model import ConstraintRM

    rm = ConstraintRM.load(checkpoint)
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("serving the RM on %s: reachable from other machines, no authentication", host)
    sock = bind(host, port)
    server = uvicorn.Server(uvicorn.Config(create_app(rm, limits, docs=docs), host=host, port=port, log_level="info"))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
