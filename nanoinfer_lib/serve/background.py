"""``background_server``: the HTTP server in a process of its own, started and stopped safely from a
notebook, a test or a benchmark.

    with background_server(max_num_seqs=8) as server:          # a free port on 127.0.0.1
        client = openai.OpenAI(base_url=server.base_url, api_key="unused")
        print(client.completions.create(model="shakespeare", prompt="ROMEO.", max_tokens=16).choices[0].text)
        print(server.stats()["blocks_used"])

It waits (a bounded time) until ``/health`` answers, and on leaving stops the process with SIGINT, as
Ctrl-C does (the server finishes or aborts its requests), killing it if it has not exited in time.
Its output goes to a log file (``server.log()``), never to the caller's screen. Standard library only.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class BackgroundServer:
    process: subprocess.Popen
    port: int
    api_key: str | None
    log_path: Path
    final_log: str | None = None          # the log's text once the process has stopped

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        """What the ``openai`` client's ``base_url`` wants."""
        return self.url + "/v1"

    def get(self, path: str, timeout: float = 10.0) -> dict:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        with urllib.request.urlopen(urllib.request.Request(self.url + path, headers=headers), timeout=timeout) as r:
            return json.loads(r.read())

    def stats(self) -> dict:
        """The engine's counters (``blocks_used``, ``running``, ``waiting``, ...) and the server's queue."""
        return self.get("/stats")

    def log(self) -> str:
        """What the server printed (its log file, removed when the server stops, is read then)."""
        return self.final_log if self.final_log is not None else self.log_path.read_text(errors="replace")

    def healthy(self) -> bool:
        try:
            return self.get("/health", timeout=2.0)["status"] == "ok"
        except (OSError, ValueError, KeyError):
            return False


def wait_healthy(server: BackgroundServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited with status {server.process.returncode} before it was ready:\n"
                               + "\n".join(server.log().splitlines()[-10:]))
        if server.healthy():
            return
        time.sleep(0.1)
    raise TimeoutError(f"the server did not answer /health within {timeout:g} s:\n"
                       + "\n".join(server.log().splitlines()[-10:]))


def stop(process: subprocess.Popen, timeout: float = 20.0) -> int:
    """SIGINT (Ctrl-C; on Windows, terminate), then kill after ``timeout`` seconds; the exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT) if os.name == "posix" else process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    return process.returncode


@contextlib.contextmanager
def background_server(checkpoint: str | os.PathLike | None = None, max_num_seqs: int = 8, api_key: str | None = None,
                      args: tuple[str, ...] = (), startup_timeout: float = 120.0, keep_log: bool = False):
    """``python -m nanoinfer_lib.serve`` on a free port of 127.0.0.1 (see the module's docstring);
    ``args``: more of its options (``"--max-queue", "4"``). The log file is removed on exit unless
    ``keep_log``."""
    cmd = [sys.executable, "-m", "nanoinfer_lib.serve", "--host", HOST, "--max-num-seqs", str(max_num_seqs), *args]
    cmd += ["--checkpoint", str(checkpoint)] if checkpoint is not None else []
    cmd += ["--api-key", api_key] if api_key else []
    fd, log_path = tempfile.mkstemp(prefix="nanoinfer-serve-", suffix=".log")
    os.close(fd)
    server = None
    try:
        for attempt in range(3):                 # another program may take the free port before the server does
            port = free_port()
            with open(log_path, "wb") as log_file:
                process = subprocess.Popen(cmd + ["--port", str(port)], stdout=log_file, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL)
            server = BackgroundServer(process, port, api_key, Path(log_path))
            try:
                wait_healthy(server, startup_timeout)
                break
            except RuntimeError:
                if attempt == 2 or "address already in use" not in server.log().lower():
                    raise
        yield server
    finally:
        if server is not None:
            stop(server.process)
            server.final_log = server.log()
        if not keep_log:
            Path(log_path).unlink(missing_ok=True)
