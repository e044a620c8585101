"""The HTTP server: the official openai client against it, outputs equal to ``generate``'s, 32 streams
at once, bad requests answered in OpenAI's shape, a client that goes away, a clean stop.

Every server listens on 127.0.0.1 on a free port and is stopped inside its test; every client call
has a timeout, every wait loop a bound, and each test an alarm (SIGALRM) that fails it if it hangs.
"""
import asyncio
import json
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest
import uvicorn

from nanoinfer_lib import generate
from nanoinfer_lib.metrics import load_eval_set
from nanoinfer_lib.serve import background_server, free_port
from nanoinfer_lib.serve.app import create_app
from nanoinfer_lib.serving import Engine

KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
MAX_BODY = 8192
PROMPT = "ROMEO.\nWhat light"
pytestmark = pytest.mark.usefixtures("alarm")
ALARM_S = 60                    # the alarm fixture fails a test that runs longer than this


class InProcess:
    """uvicorn serving ``app`` in a thread of this process (stopped on exit)."""

    def __init__(self, app):
        self.app, self.port = app, free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, access_log=False, log_level="warning",
                                timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "the server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(20)
        assert not self.thread.is_alive(), "the server did not stop"


@pytest.fixture(scope="module")
def served(bundled):
    model, tokenizer = bundled
    engine = Engine(model, tokenizer, max_num_seqs=32)
    with InProcess(create_app(engine, "shakespeare", api_key=KEY, max_body_bytes=MAX_BODY)) as server:
        server.engine = engine
        yield server


@pytest.fixture
def client(served):
    return openai.OpenAI(base_url=served.url + "/v1", api_key=KEY, max_retries=0, timeout=30)


def offline(bundled, prompt: str, n: int) -> str:
    """``generate``'s greedy continuation of ``prompt``, as text."""
    model, tokenizer = bundled
    ids = tokenizer.encode(prompt, return_tensors="pt")
    return tokenizer.decode(generate(model, ids, max_new_tokens=n, temperature=0)[0, ids.shape[1]:])


class Gate:
    """While closed, the engine's loop waits before each step: the test, not the clock, decides
    whether a request is still running when the next thing happens."""

    def __init__(self, engine):
        self.engine, self.step, self.is_open = engine, engine.step, threading.Event()

    def _gated(self):
        self.is_open.wait(20)
        return self.step()

    def __enter__(self):
        self.engine.step = self._gated
        return self

    def __exit__(self, *exc):
        self.is_open.set()
        del self.engine.step                                      # the class's step again


def wait_until(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


# ------------------------------------------------------------------ the openai client, unchanged
def test_greedy_completion_equals_generate_with_its_usage(client, bundled):
    r = client.completions.create(model="shakespeare", prompt=PROMPT, max_tokens=24, temperature=0)
    assert r.choices[0].text == offline(bundled, PROMPT, 24)
    assert r.choices[0].finish_reason == "length"
    n_prompt = len(bundled[1].encode(PROMPT))
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (n_prompt, 24, n_prompt + 24)
    assert [m.id for m in client.models.list().data] == ["shakespeare"]


def test_streamed_completion_is_the_same_text_then_done(client, bundled):
    chunks = list(client.completions.create(model="shakespeare", prompt=PROMPT, max_tokens=24, temperature=0,
                                            stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == offline(bundled, PROMPT, 24)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].usage.completion_tokens == 24 and not chunks[-1].choices


def test_seed_reproduces_a_sampled_completion(client):
    def sample(seed):
        return client.completions.create(model="shakespeare", prompt=PROMPT, max_tokens=16, temperature=1.0,
                                         top_p=0.95, seed=seed).choices[0].text
    assert sample(7) == sample(7)
    assert len({sample(s) for s in (7, 8, 9, 10)}) > 1          # the seed matters


def test_stop_strings_cut_the_text_with_finish_reason_stop(client, bundled):
    full = offline(bundled, PROMPT, 40)
    k = next(i for i in range(4, len(full) - 2) if full.strip() and full.find(full[i:i + 2]) == i
             and full[i:i + 2].strip())
    stop = full[k:k + 2]
    r = client.completions.create(model="shakespeare", prompt=PROMPT, max_tokens=40, temperature=0, stop=[stop])
    assert (r.choices[0].text, r.choices[0].finish_reason) == (full[:k], "stop")
    chunks = list(client.completions.create(model="shakespeare", prompt=PROMPT, max_tokens=40, temperature=0,
                                            stop=stop, stream=True))
    assert "".join(c.choices[0].text for c in chunks) == full[:k]
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_top_k_and_min_p_pass_through_extra_body(client, bundled):
    r = client.completions.create(model="shakespeare", prompt=PROMPT, max_tokens=8, temperature=0.7, seed=1,
                                  extra_body={"top_k": 1, "min_p": 0.1})
    assert r.choices[0].text == offline(bundled, PROMPT, 8)            # top_k 1 is greedy whatever the temperature


# ------------------------------------------------------------------ many clients at once
def test_32_concurrent_streams_equal_offline_and_short_ones_do_not_wait_for_the_longest(served, bundled):
    prompts = [item["prompt"][-80:] for item in load_eval_set()[:32]]
    lengths = [320 if i % 8 == 0 else 4 for i in range(32)]         # 4 long requests, 28 short ones
    client = openai.AsyncOpenAI(base_url=served.url + "/v1", api_key=KEY, max_retries=0, timeout=60)

    async def one(prompt, n):
        t0, first, text = time.perf_counter(), None, ""
        async for chunk in await client.completions.create(model="shakespeare", prompt=prompt, max_tokens=n,
                                                           temperature=0, stream=True):
            first = first or time.perf_counter()
            text += chunk.choices[0].text
        return text, first - t0, time.perf_counter()

    async def run():
        async with client:
            return await asyncio.gather(*(one(p, n) for p, n in zip(prompts, lengths)))
    t0 = time.perf_counter()
    results = asyncio.run(run())
    for (text, _, _), p, n in zip(results, prompts, lengths):
        assert text == offline(bundled, p, n)
    longest_end = max(end for (_, _, end), n in zip(results, lengths) if n == 320)
    short = [(ttft, end) for (_, ttft, end), n in zip(results, lengths) if n == 4]
    assert all(end < longest_end for _, end in short), "a short request waited for the longest one"
    assert max(ttft for ttft, _ in short) < 0.5 * (longest_end - t0)


# ------------------------------------------------------------------ bad requests
BAD = [  # (body, expected status, the param the error must name)
    (b"{not json", 400, None),
    (b"[1, 2]", 400, None),
    ({"model": "shakespeare", "max_tokens": 4}, 400, "prompt"),
    ({"prompt": 5}, 400, "prompt"),
    ({"prompt": ""}, 400, "prompt"),
    ({"prompt": ["a", "b"]}, 400, "prompt"),
    ({"prompt": [1, 99999]}, 400, "prompt"),
    ({"prompt": "x", "max_tokens": "ten"}, 400, "max_tokens"),
    ({"prompt": "x", "max_tokens": -1}, 400, "max_tokens"),
    ({"prompt": "x", "max_tokens": 0}, 400, "max_tokens"),
    ({"prompt": "x", "max_tokens": 10_000}, 400, "max_tokens"),
    ({"prompt": "x " * 600}, 400, "prompt"),
    ({"prompt": "x", "temperature": -1}, 400, "temperature"),
    ({"prompt": "x", "temperature": "hot"}, 400, "temperature"),
    ({"prompt": "x", "top_p": 1.5}, 400, "top_p"),
    ({"prompt": "x", "top_k": 1.5}, 400, "top_k"),
    ({"prompt": "x", "stream": "yes"}, 400, "stream"),
    ({"prompt": "x", "stop": 3}, 400, "stop"),
    ({"prompt": "x", "stop": ["a", "b", "c", "d", "e"]}, 400, "stop"),
    ({"prompt": "x", "seed": -1}, 400, "seed"),
    ({"prompt": "x", "n": 2}, 400, "n"),
    ({"prompt": "x", "logprobs": 3}, 400, "logprobs"),
    ({"prompt": "x", "max_token": 4}, 400, "max_token"),
    ({"prompt": "x", "stream_options": {"include_usage": True}}, 400, "stream_options"),
    ({"prompt": "x", "model": "gpt-4"}, 400, "model"),
    ({"prompt": "x" * (2 * MAX_BODY)}, 413, None),
]


@pytest.mark.parametrize("body, status, param", BAD, ids=[f"{s}-{p}-{i}" for i, (_, s, p) in enumerate(BAD)])
def test_a_bad_request_gets_an_openai_error_naming_its_param(served, body, status, param):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    r = httpx.post(served.url + "/v1/completions", content=content, headers=AUTH, timeout=10)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["type"] == "invalid_request_error"
    assert error["param"] == param and error["message"]
    if param:
        assert param.split(".")[0] in error["message"] or param == "model"


def test_wrong_or_missing_api_key_is_401_and_the_openai_client_raises(served):
    for headers in ({"Authorization": "Bearer wrong"}, {}):
        r = httpx.post(served.url + "/v1/completions", json={"prompt": "x"}, headers=headers, timeout=10)
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert httpx.get(served.url + "/v1/models", timeout=10).status_code == 401
    assert httpx.get(served.url + "/health", timeout=10).json() == {"status": "ok"}     # health needs no key
    wrong = openai.OpenAI(base_url=served.url + "/v1", api_key="wrong", max_retries=0, timeout=10)
    with pytest.raises(openai.AuthenticationError):
        wrong.completions.create(model="shakespeare", prompt="x", max_tokens=2)


def test_the_openai_client_raises_bad_request_naming_the_param_and_the_server_keeps_serving(client, served):
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model="shakespeare", prompt=PROMPT, max_tokens=4, temperature=-1)
    assert e.value.body["param"] == "temperature"
    assert httpx.get(served.url + "/nowhere", timeout=10).json()["error"]["message"].startswith("Not Found")
    assert httpx.get(served.url + "/v1/completions", timeout=10).status_code == 405
    r = client.completions.create(model="shakespeare", prompt=PROMPT, max_tokens=3, temperature=0)
    assert r.usage.completion_tokens == 3
    stats = httpx.get(served.url + "/stats", headers=AUTH, timeout=10).json()
    assert stats["running"] == stats["waiting"] == stats["in_flight"] == 0 and stats["blocks_used"] == 0


def test_a_full_queue_is_503_and_the_server_recovers(bundled):
    model, tokenizer = bundled
    engine = Engine(model, tokenizer, max_num_seqs=1)
    body = {"prompt": PROMPT, "max_tokens": 8, "temperature": 0, "stream": True}
    with InProcess(create_app(engine, max_queue=0)) as server, httpx.Client(base_url=server.url, timeout=10) as http, \
            Gate(engine) as gate:
        with http.stream("POST", "/v1/completions", json=body) as running:
            assert wait_until(lambda: http.get("/stats").json()["in_flight"] == 1)     # held before its first step
            r = http.post("/v1/completions", json={"prompt": "x", "max_tokens": 2})
            assert r.status_code == 503 and r.json()["error"]["type"] == "server_error"
            assert "max_queue=0" in r.json()["error"]["message"]
            gate.is_open.set()
            assert "".join(running.iter_lines()).endswith("data: [DONE]")
        assert wait_until(lambda: http.get("/stats").json()["in_flight"] == 0)
        assert http.post("/v1/completions", json={"prompt": "x", "max_tokens": 2}).status_code == 200


def test_a_failing_engine_step_ends_every_stream_with_an_error_and_the_server_recovers(served):
    def broken():
        raise RuntimeError("a broken step")
    body = {"prompt": PROMPT, "max_tokens": 8, "stream": True}
    with Gate(served.engine) as gate:
        with httpx.stream("POST", served.url + "/v1/completions", json=body, headers=AUTH, timeout=10) as r:
            assert wait_until(lambda: served.app.state.server.loop.in_flight == 1)
            gate.step = broken                                    # the next step fails
            gate.is_open.set()
            lines = [line for line in r.iter_lines() if line]
    assert json.loads(lines[-2][6:])["error"]["type"] == "server_error" and lines[-1] == "data: [DONE]"
    assert wait_until(lambda: served.engine.stats["blocks_used"] == 0)
    r = httpx.post(served.url + "/v1/completions", json={"prompt": PROMPT, "max_tokens": 2}, headers=AUTH, timeout=10)
    assert r.status_code == 200


# ------------------------------------------------------------------ a client that goes away
def test_a_client_that_disconnects_mid_stream_frees_its_blocks(served, caplog):
    stats = lambda: httpx.get(served.url + "/stats", headers=AUTH, timeout=10).json()        # noqa: E731
    before = stats()["generated_tokens"]
    body = {"prompt": PROMPT, "max_tokens": 480, "temperature": 0, "stream": True}
    with caplog.at_level("INFO", logger="nanoinfer_lib.serve"), Gate(served.engine) as gate:
        gate.is_open.set()
        with httpx.stream("POST", served.url + "/v1/completions", json=body, headers=AUTH, timeout=10) as r:
            lines = r.iter_lines()
            assert next(lines).startswith("data: ")
            gate.is_open.clear()                                  # no more steps: it stays mid-stream
            assert stats()["blocks_used"] > 0 and stats()["in_flight"] == 1
        assert wait_until(lambda: (s := stats())["in_flight"] == 0 and s["running"] == 0 and s["blocks_used"] == 0)
    assert stats()["generated_tokens"] - before < 480                 # aborted, not run to the end
    assert any("finish=abort" in m for m in caplog.messages), caplog.messages
    r = httpx.post(served.url + "/v1/completions", json={"prompt": PROMPT, "max_tokens": 4}, headers=AUTH, timeout=10)
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 4


def test_one_log_line_per_request_with_id_tokens_and_times(client, caplog):
    with caplog.at_level("INFO", logger="nanoinfer_lib.serve"):
        r = client.completions.create(model="shakespeare", prompt=PROMPT, max_tokens=5, temperature=0)
        with pytest.raises(openai.BadRequestError):
            client.completions.create(model="shakespeare", prompt=PROMPT, max_tokens=-5)
    lines = [m for m in caplog.messages]
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"{r.id} 200 prompt=") and "completion=5 finish=length ttft=" in lines[0]
    assert lines[1].startswith("- 400 param=max_tokens")


# ------------------------------------------------------------------ the command, in a process of its own
def test_background_server_serves_then_stops_cleanly_on_sigint(bundled):
    with background_server(max_num_seqs=4, api_key="k") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0, timeout=30)
        r = client.completions.create(model="shakespeare", prompt=PROMPT, max_tokens=6, temperature=0)
        assert r.choices[0].text == offline(bundled, PROMPT, 6)
        assert server.stats()["num_blocks"] == 4 * 512 // 16
        process = server.process
    assert process.returncode == 0
    assert "Traceback" not in server.log() and "INFO:     stopped" in server.log()
    assert not server.log_path.exists()                                   # removed; its text kept


def test_importing_the_library_imports_no_web_stack_and_bad_options_are_one_line():
    code = ("import sys, nanoinfer_lib, nanoinfer_lib.serve; "
            "print([m for m in sys.modules if m.split('.')[0] in ('starlette', 'uvicorn', 'openai', 'httpx')])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout.strip()) == (0, "[]"), r.stderr
    r = subprocess.run([sys.executable, "-m", "nanoinfer_lib.serve", "--port", "70000"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == ["error: --port must be an int in [0, 65535], got 70000"]


def readme_server_blocks() -> tuple[str, str, str]:
    """The README's server command, its curl command and its openai snippet."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Serve the model over HTTP")[1].split("\n## ")[0]
    blocks = re.findall(r"```(\w+)\n(.*?)```", section, re.S)
    assert [lang for lang, _ in blocks] == ["bash", "bash", "python"], blocks
    start = blocks[0][1].split("#")[0].split("&&")[-1].strip()
    return start, blocks[1][1].strip(), blocks[2][1]


def test_the_readme_commands_start_the_server_and_query_it_with_curl_and_openai(bundled, tmp_path):
    start, curl, snippet = readme_server_blocks()
    assert start == "python -m nanoinfer_lib.serve"
    port = free_port()
    log = open(tmp_path / "server.log", "wb")
    process = subprocess.Popen([sys.executable, *shlex.split(start)[1:], "--port", str(port), "--shutdown-timeout",
                                "0.5"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: process.poll() is not None or _healthy(url), 60)
        assert process.poll() is None and _healthy(url), (tmp_path / "server.log").read_text()
        if shutil.which("curl"):
            args = shlex.split(curl.replace("127.0.0.1:8000", f"127.0.0.1:{port}"))
            r = subprocess.run(args + ["--silent", "--max-time", "30"], capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stderr
            assert json.loads(r.stdout)["choices"][0]["text"] == offline(bundled, "ROMEO.", 32)
        code = snippet.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and r.stdout.strip() and not r.stderr, r.stderr
        body = {"prompt": "ROMEO.", "max_tokens": 500, "temperature": 0, "stream": True}
        with httpx.stream("POST", url + "/v1/completions", json=body, timeout=30) as stream:
            lines = stream.iter_lines()
            assert next(lines).startswith("data: ")
            process.send_signal(signal.SIGTERM)                   # mid-stream: it finishes or is aborted
            rest = [line for line in lines if line]
        assert rest[-1] == "data: [DONE]"
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        log.close()
    text = (tmp_path / "server.log").read_text()
    assert "Traceback" not in text and text.rstrip().endswith("stopped"), text


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
