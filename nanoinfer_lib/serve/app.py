"""The ASGI app (Starlette): OpenAI's ``/v1/completions`` and ``/v1/models``, ``/health`` and ``/stats``,
on one ``EngineLoop``.

    app = create_app(Engine(model, tokenizer, max_num_seqs=32), model_name="shakespeare")
    uvicorn.run(app, host="127.0.0.1", port=8000)

Every error is answered in OpenAI's shape (``protocol.APIError``): 400 for a bad request (never
422), 401 for a missing or wrong API key, 404/405 for a wrong path or method, 413 for a body over
``max_body_bytes``, 503 when ``max_queue`` requests already wait (or the server is stopping). A
stream ends with ``data: [DONE]``, after an error event if the request could not finish. A client
that goes away, streamed or not, has its request aborted and its blocks freed. One log line per
completion request: its id, status, tokens and times.
"""
from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from ..serving import Engine, RequestOutput
from . import protocol
from .engine_loop import EngineLoop, Overloaded, Stopped
from .protocol import APIError

log = logging.getLogger("nanoinfer_lib.serve")


class Record:
    """What the log line of one completion request says."""

    def __init__(self):
        self.t0, self.request_id, self.status = time.perf_counter(), "-", 200
        self.first: float | None = None
        self.last: RequestOutput | None = None
        self.note = ""

    def update(self, out: RequestOutput) -> None:
        self.first = self.first or time.perf_counter()
        self.last = out

    def line(self) -> str:
        now, out = time.perf_counter(), self.last
        if self.status != 200:
            return f"{self.request_id} {self.status} {self.note}"
        tokens = f"prompt={len(out.prompt_token_ids)} completion={len(out.token_ids)}" if out else "completion=0"
        finish = (out.finish_reason if out and out.finished else None) or self.note or "abort"
        ttft = f"{self.first - self.t0:.3f}s" if self.first else "-"
        return f"{self.request_id} 200 {tokens} finish={finish} ttft={ttft} total={now - self.t0:.3f}s"


async def _outputs(queue: asyncio.Queue):
    """A request's outputs as they arrive; an error put in the queue (the server stopping) is raised."""
    while True:
        item = await queue.get()
        if isinstance(item, Exception):
            raise item
        yield item
        if item.finished:
            return


async def _disconnected(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class _Stream(StreamingResponse):
    """A stream whose request is aborted and logged however the response ends (a client that went
    away, the server stopping)."""

    def __init__(self, content, on_close):
        super().__init__(content, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        self.on_close = on_close

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except OSError:                          # the client went away while we wrote to it
            pass
        finally:
            self.on_close()


class CompletionServer:
    def __init__(self, engine: Engine, model_name: str, api_key: str | None, max_queue: int,
                 max_body_bytes: int, shutdown_timeout: float):
        self.engine, self.model_name, self.api_key = engine, model_name, api_key
        self.loop = EngineLoop(engine, max_queue)
        self.max_body_bytes, self.shutdown_timeout = max_body_bytes, shutdown_timeout
        self.config = engine.model.config
        self.created = protocol.now()

    def authorize(self, request: Request) -> None:
        if self.api_key is None:
            return
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {self.api_key}".encode()):
            raise APIError(401, "missing or wrong API key: send the header 'Authorization: Bearer KEY' with the "
                                "server's --api-key", code="invalid_api_key")

    async def read_body(self, request: Request) -> bytes:
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body_bytes:
            raise APIError(413, f"the request body has {int(length)} bytes; this server takes at most "
                                f"{self.max_body_bytes}", code="request_too_large")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > self.max_body_bytes:
                raise APIError(413, f"the request body is over {self.max_body_bytes} bytes",
                               code="request_too_large")
        return body

    # ------------------------------------------------------------------ routes
    async def health(self, request: Request) -> JSONResponse:
        ok = not self.loop._closing
        return JSONResponse({"status": "ok" if ok else "shutting down"}, status_code=200 if ok else 503)

    async def models(self, request: Request) -> JSONResponse:
        self.authorize(request)
        return JSONResponse({"object": "list", "data": [
            {"id": self.model_name, "object": "model", "created": self.created, "owned_by": "nanoinfer",
             "max_model_len": self.config.block_size}]})

    async def stats(self, request: Request) -> JSONResponse:
        """The engine's counters (blocks in use, steps, ...) and the server's queue."""
        self.authorize(request)
        stats = await asyncio.to_thread(lambda: self.engine.stats)
        return JSONResponse({**stats, "in_flight": self.loop.in_flight, "capacity": self.loop.capacity})

    async def completions(self, request: Request):
        record = Record()
        try:
            self.authorize(request)
            data = protocol.parse_json(await self.read_body(request))
            req = protocol.parse_completion(data, self.engine.tokenizer, self.config.vocab_size,
                                            self.config.block_size, self.model_name)
            try:
                rid, queue = self.loop.submit(req.prompt_ids, req.params)
            except Overloaded as e:
                raise APIError(503, str(e), code="server_overloaded") from None
        except APIError as e:
            record.status, record.note = e.status, f"param={e.param} {e.message}"
            log.info(record.line())
            raise
        record.request_id = rid
        if req.stream:
            return _Stream(self._events(rid, queue, req, record), lambda: self._close(rid, record))
        try:
            return await self._whole(rid, queue, request, record)
        finally:
            self._close(rid, record)

    def _close(self, rid: str, record: Record) -> None:
        if self.loop.abort(rid):
            record.note = record.note or "abort"
        log.info(record.line())

    async def _whole(self, rid: str, queue: asyncio.Queue, request: Request, record: Record) -> JSONResponse:
        async def last() -> RequestOutput:
            async for out in _outputs(queue):
                record.update(out)
            return record.last
        getter, watcher = asyncio.ensure_future(last()), asyncio.ensure_future(_disconnected(request.receive))
        try:
            await asyncio.wait({getter, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            getter.cancel(), watcher.cancel()
        if not getter.done() or getter.cancelled():
            record.note = "disconnect"
            return JSONResponse({}, status_code=499)      # nobody reads it: the client has gone
        try:
            out = getter.result()
        except Stopped as e:
            raise APIError(503, str(e), code="server_shutting_down") from None
        return JSONResponse(protocol.completion(rid, self.model_name, protocol.now(), out.text, out.finish_reason, out))

    async def _events(self, rid: str, queue: asyncio.Queue, req: protocol.CompletionRequest, record: Record):
        created, sent = protocol.now(), ""
        try:
            async for out in _outputs(queue):
                record.update(out)
                delta, sent = out.text[len(sent):], out.text
                if delta or out.finished:
                    yield protocol.sse(protocol.completion(rid, self.model_name, created, delta,
                                                           out.finish_reason if out.finished else None))
            if req.include_usage:
                yield protocol.sse(protocol.usage_chunk(rid, self.model_name, created, record.last))
        except Stopped as e:
            yield protocol.sse(APIError(503, str(e), code="server_shutting_down").body())
        yield protocol.sse("[DONE]")

    # ------------------------------------------------------------------ the app
    @contextlib.asynccontextmanager
    async def lifespan(self, app):
        self.loop.start()
        yield
        aborted = await self.loop.close(self.shutdown_timeout)
        log.info(f"engine stopped ({aborted} unfinished requests aborted)")


async def _api_error(request: Request, exc: APIError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    return JSONResponse(APIError(exc.status_code, f"{exc.detail}: {request.method} {request.url.path}").body(),
                        status_code=exc.status_code)


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error")
    return JSONResponse(APIError(500, f"internal error: {type(exc).__name__}: {exc}").body(), status_code=500)


def create_app(engine: Engine, model_name: str = "shakespeare", api_key: str | None = None, max_queue: int = 64,
               max_body_bytes: int = 256 * 1024, shutdown_timeout: float = 10.0) -> Starlette:
    """The app on ``engine`` (see the module's docstring); ``app.state.server`` is its CompletionServer."""
    server = CompletionServer(engine, model_name, api_key, max_queue, max_body_bytes, shutdown_timeout)
    routes = [Route("/health", server.health), Route("/v1/models", server.models), Route("/stats", server.stats),
              Route("/v1/completions", server.completions, methods=["POST"])]
    app = Starlette(routes=routes, lifespan=server.lifespan,
                    exception_handlers={APIError: _api_error, HTTPException: _http_error, Exception: _server_error})
    app.state.server = server
    return app
