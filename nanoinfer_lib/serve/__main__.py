"""``python -m nanoinfer_lib.serve``: the bundled model (or ``--checkpoint``) behind an OpenAI-compatible
HTTP API, on 127.0.0.1:8000 unless told otherwise.

    python -m nanoinfer_lib.serve --max-num-seqs 32 --api-key KEY
    curl http://127.0.0.1:8000/v1/completions -H "Content-Type: application/json" \\
         -d '{"model": "shakespeare", "prompt": "ROMEO.", "max_tokens": 32}'

Ctrl-C (SIGINT) or SIGTERM stops it: it takes no new requests, lets running ones finish for
``--shutdown-timeout`` seconds, aborts the rest and exits with status 0.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
import sys
from pathlib import Path

from .. import cli, validate

log = logging.getLogger("nanoinfer_lib.serve")


class _Terminated(Exception):
    """Raised by the SIGTERM handler once uvicorn has shut down and passes the signal on."""


def _terminated(signum, frame):
    raise _Terminated


def parser() -> cli.ArgumentParser:
    p = cli.ArgumentParser(prog="python -m nanoinfer_lib.serve",
                           description="An OpenAI-compatible HTTP server (/v1/completions) on the serving Engine.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine "
                                                        "only; 0.0.0.0 lets other machines in, so set --api-key)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--checkpoint", default=None, help="a checkpoint file (default: the bundled model)")
    p.add_argument("--model-name", default=None,
                   help="the model's name in the API (default: 'shakespeare', or the checkpoint's file name)")
    p.add_argument("--max-num-seqs", type=int, default=32, help="requests generated at once (default 32)")
    p.add_argument("--max-queue", type=int, default=64,
                   help="requests that may wait for a slot; more get 503 (default 64)")
    p.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY' on /v1 and /stats")
    p.add_argument("--max-body-bytes", type=int, default=256 * 1024, help="larger request bodies get 413 "
                                                                          "(default 262144)")
    p.add_argument("--shutdown-timeout", type=float, default=10.0,
                   help="seconds running requests may take to finish when stopping (default 10)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    port = validate.integer("--port", args.port, 0, 65535)
    seqs = validate.integer("--max-num-seqs", args.max_num_seqs, 1, 1024)
    queue = validate.integer("--max-queue", args.max_queue, 0, 100_000)
    body = validate.integer("--max-body-bytes", args.max_body_bytes, 1024)
    grace = validate.number("--shutdown-timeout", args.shutdown_timeout, 0.0)
    if args.api_key is not None and not args.api_key.strip():
        raise ValueError("--api-key must not be empty")
    try:
        import uvicorn
        from uvicorn.logging import DefaultFormatter

        from .app import create_app
    except ModuleNotFoundError as e:
        raise ImportError(f"{(e.name or 'a package').split('.')[0]} is missing: the server needs the serve extra "
                          f"(pip install \"nanoinfer_lib[serve]\")") from None
    from ..checkpoint import load_model
    from ..serving import Engine

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(DefaultFormatter("%(levelprefix)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    model, tokenizer = load_model(checkpoint=args.checkpoint)
    name = args.model_name or (Path(args.checkpoint).stem if args.checkpoint else "shakespeare")
    engine = Engine(model, tokenizer, max_num_seqs=seqs)
    app = create_app(engine, name, args.api_key, queue, body, grace)
    if args.api_key is None and not _loopback(args.host):
        log.warning(f"listening on {args.host} without --api-key: anyone who can reach it can use it")
    log.info(f"model {name!r}: {model.config.n_layer} layers, context {model.config.block_size} tokens, "
             f"max_num_seqs={seqs}, {engine.stats['num_blocks']} KV blocks of {engine.block_size} tokens")
    server = _server_class(uvicorn.Server)(uvicorn.Config(app, host=args.host, port=port, access_log=False,
                                                          log_level="info", timeout_graceful_shutdown=grace + 5))
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        server.run()
    except (KeyboardInterrupt, _Terminated):     # uvicorn has shut down and passes the signal on
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    log.info("stopped")
    return 0


def _server_class(base):
    class Server(base):
        """uvicorn's server, whose shutdown also closes the engine loop: running requests get
        ``--shutdown-timeout`` seconds to finish, then each is aborted and its stream ends with an
        error event and ``data: [DONE]``, so uvicorn's wait for open connections ends."""

        async def shutdown(self, sockets=None):
            closing = asyncio.ensure_future(self.config.app.state.server.loop.close(
                self.config.app.state.server.shutdown_timeout))
            try:
                await super().shutdown(sockets)
            finally:
                await closing
    return Server


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


if __name__ == "__main__":
    raise SystemExit(cli.guarded(main))
