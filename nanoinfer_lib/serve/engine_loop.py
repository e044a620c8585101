"""``EngineLoop``: one ``Engine`` stepped by one thread, shared by every request of the server.

The web server runs on an asyncio event loop; a step of the model takes milliseconds of CPU, which
would stall every other connection if it ran there. So one thread of its own calls
``engine.step()`` while there is work, and hands each output to the asyncio queue of the request it
belongs to (``call_soon_threadsafe``). Requests are added and aborted from the event loop between
steps (the Engine's lock makes that safe); an abort frees the request's blocks at once.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import uuid

from ..serving import Engine, SamplingParams

log = logging.getLogger("nanoinfer_lib.serve")


class Overloaded(Exception):
    """The queue is full, or the server is shutting down: answered with 503."""


class Stopped(Exception):
    """Put in a request's queue when the server stops before the request finished."""


class EngineLoop:
    def __init__(self, engine: Engine, max_queue: int = 64):
        """``max_queue``: requests that may wait for a free slot beyond the ``max_num_seqs`` running."""
        self.engine, self.max_queue = engine, max_queue
        self.capacity = engine.max_num_seqs + max_queue
        self._streams: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = {}
        self._lock = threading.Lock()            # guards _streams
        self._wake = threading.Event()
        self._closing = self._stop = False
        self.aborted_at_close = 0
        self._thread: threading.Thread | None = None

    @property
    def in_flight(self) -> int:
        return len(self._streams)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="engine-loop", daemon=True)
        self._thread.start()

    def submit(self, prompt_ids: list[int], params: SamplingParams) -> tuple[str, asyncio.Queue]:
        """Add a request (from the event loop); its id and the queue its outputs arrive in."""
        if self._closing:
            raise Overloaded("the server is shutting down")
        queue: asyncio.Queue = asyncio.Queue()
        with self._lock:
            if len(self._streams) >= self.capacity:
                raise Overloaded(f"the server is full: {len(self._streams)} requests in flight "
                                 f"(max_num_seqs={self.engine.max_num_seqs} running + max_queue={self.max_queue} "
                                 f"waiting); try again shortly")
            rid = f"cmpl-{uuid.uuid4().hex[:24]}"
            self._streams[rid] = (asyncio.get_running_loop(), queue)
        try:
            self.engine.add_request(prompt_ids, params, request_id=rid)
        except BaseException:
            self._drop(rid)
            raise
        self._wake.set()
        return rid, queue

    def abort(self, request_id: str) -> bool:
        """Stop a request and free its blocks; False if it had already finished."""
        self._drop(request_id)
        return self.engine.abort_request(request_id)

    def _drop(self, request_id: str):
        with self._lock:
            return self._streams.pop(request_id, None)

    def _deliver(self, request_id: str, item, last: bool) -> None:
        with self._lock:
            target = self._streams.pop(request_id, None) if last else self._streams.get(request_id)
        if target is not None:
            loop, queue = target
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:                  # the event loop has closed: nobody is waiting
                pass

    def _run(self) -> None:
        while not self._stop:
            if not self.engine.has_unfinished_requests():
                self._wake.wait(0.05)
                self._wake.clear()
                continue
            try:
                outputs = self.engine.step()
            except Exception:                     # a bug: end every request with an error rather than hang
                log.exception("engine step failed; aborting every request")
                self._fail_all(Stopped("the engine failed while generating; see the server's log"))
                continue
            for out in outputs:
                self._deliver(out.request_id, out, out.finished)

    def _fail_all(self, error: Exception) -> None:
        with self._lock:
            ids = list(self._streams)
        for rid in ids:
            self.engine.abort_request(rid)
            self._deliver(rid, error, last=True)

    async def close(self, timeout: float = 10.0) -> int:
        """Refuse new requests, let running ones finish for up to ``timeout`` seconds, abort the rest
        (their clients get an error event), stop the thread. Returns how many were aborted (over all
        calls: a second call finds none left)."""
        self._closing = True
        deadline = asyncio.get_running_loop().time() + timeout
        while self._streams and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        self.aborted_at_close += len(self._streams)
        self._fail_all(Stopped("the server is shutting down"))
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 30)
        return self.aborted_at_close
