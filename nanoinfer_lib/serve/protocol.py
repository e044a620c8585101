"""The OpenAI completions protocol: a request body read into token ids and ``SamplingParams``, the
response and stream-chunk bodies, and errors in OpenAI's shape. Plain Python, no web framework.

Every rule of a request is checked here, before the engine sees it, and a broken one is an
``APIError`` naming the request's own parameter (``max_tokens``, not the engine's ``max_new_tokens``).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

from .. import validate
from ..sampling import check_seed
from ..serving import RequestOutput, SamplingParams

MAX_STOP = 4                     # OpenAI's limit on stop strings
DEFAULT_MAX_TOKENS = 16          # OpenAI's default for completions
# parameters the server takes only at the value that means "off": name -> the allowed values
INERT = {"suffix": (None,), "echo": (None, False), "logprobs": (None,), "best_of": (None, 1), "n": (None, 1),
         "frequency_penalty": (None, 0), "presence_penalty": (None, 0), "logit_bias": (None, {})}
KNOWN = {"model", "prompt", "max_tokens", "temperature", "top_p", "top_k", "min_p", "repetition_penalty",
         "stop", "stream", "stream_options", "seed", "user", *INERT}


class APIError(Exception):
    """An HTTP error answered as OpenAI does: ``{"error": {"message", "type", "param", "code"}}``."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    @property
    def type(self) -> str:
        return "server_error" if self.status >= 500 else "invalid_request_error"

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


@dataclass
class CompletionRequest:
    prompt_ids: list[int]
    params: SamplingParams
    stream: bool
    include_usage: bool          # stream_options.include_usage: a last chunk with the token counts


def _checked(name: str, check, *args):
    """``check(name, value, ...)`` from ``validate``, its TypeError/ValueError made a 400 naming ``name``."""
    try:
        return check(name, *args)
    except (TypeError, ValueError) as e:
        raise APIError(400, str(e), param=name) from None


def parse_json(body: bytes) -> dict:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as e:
        raise APIError(400, f"the request body is not valid JSON: {e}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise APIError(400, f"the request body must be a JSON object, got {type(data).__name__}", code="invalid_json")
    return data


def parse_completion(data: dict, tokenizer, vocab_size: int, window: int, model_name: str) -> CompletionRequest:
    """A ``POST /v1/completions`` body, checked; ``window`` is the model's context window."""
    for name in data:
        if name not in KNOWN:
            raise APIError(400, f"unrecognized request argument: {name}", param=name)
    for name, allowed in INERT.items():
        if data.get(name) not in allowed:
            raise APIError(400, f"{name} is not supported: leave it out (or give {allowed[-1]!r}); "
                                f"got {data[name]!r}", param=name)
    model = data.get("model")
    if model is not None and model != model_name:
        raise APIError(400, f"the model {model!r} does not exist: this server serves {model_name!r}",
                       param="model", code="model_not_found")
    ids = prompt_ids(data.get("prompt"), tokenizer, vocab_size, window)
    max_tokens = data.get("max_tokens")
    max_tokens = _checked("max_tokens", validate.integer, DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens, 1)
    if len(ids) + max_tokens > window:
        raise APIError(400, f"the context window holds {window} tokens, but the request needs {len(ids) + max_tokens} "
                            f"({len(ids)} in the prompt, max_tokens={max_tokens}): lower max_tokens to at most "
                            f"{window - len(ids)}", param="max_tokens", code="context_length_exceeded")
    temperature = data.get("temperature")
    top_k = data.get("top_k")
    params = dict(max_new_tokens=max_tokens,
                  temperature=_checked("temperature", validate.number, 1.0 if temperature is None else temperature, 0.0, 2.0),
                  top_p=_checked("top_p", validate.optional_number, data.get("top_p"), 0.0, 1.0),
                  top_k=None if top_k == -1 else _checked("top_k", validate.optional_integer, top_k, 0),  # -1: off, as vLLM
                  min_p=_checked("min_p", validate.optional_number, data.get("min_p"), 0.0, 1.0),
                  repetition_penalty=_checked("repetition_penalty", validate.optional_number,
                                              data.get("repetition_penalty"), 0.0, None, True),
                  stop=stop_strings(data.get("stop")), seed=_checked("seed", check_seed, data.get("seed")))
    stream = False if data.get("stream") is None else _checked("stream", validate.flag, data["stream"])
    if data.get("user") is not None:
        _checked("user", validate.text, data["user"])
    return CompletionRequest(ids, SamplingParams(**params), stream, include_usage(data.get("stream_options"), stream))


def prompt_ids(prompt, tokenizer, vocab_size: int, window: int) -> list[int]:
    """One prompt: a string, a list of one string, a list of token ids or a list of one such list."""
    if prompt is None:
        raise APIError(400, "prompt is required: a string (or a list of token ids)", param="prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], (str, list)):
        prompt = prompt[0]
    if isinstance(prompt, list) and prompt and all(isinstance(p, (str, list)) for p in prompt):
        raise APIError(400, f"this server takes one prompt per request, got {len(prompt)}", param="prompt")
    if isinstance(prompt, str):
        ids = tokenizer.encode(prompt)
    elif isinstance(prompt, list) and all(validate.is_int(t) for t in prompt):
        ids = prompt
        bad = [t for t in ids if not 0 <= t < vocab_size]
        if bad:
            raise APIError(400, f"prompt token ids must lie in [0, {vocab_size}), got {bad[0]}", param="prompt")
    else:
        raise APIError(400, f"prompt must be a string or a list of token ids, got {json.dumps(prompt)[:60]}",
                       param="prompt")
    if not ids:
        raise APIError(400, "prompt is empty: give at least one token", param="prompt")
    if len(ids) >= window:
        raise APIError(400, f"the prompt has {len(ids)} tokens; the context window holds {window}, one of them "
                            f"for the first new token", param="prompt", code="context_length_exceeded")
    return list(ids)


def stop_strings(stop) -> tuple[str, ...] | None:
    if stop is None:
        return None
    items = [stop] if isinstance(stop, str) else stop
    if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
        raise APIError(400, f"stop must be a string or a list of strings, got {json.dumps(stop)[:60]}", param="stop")
    if len(items) > MAX_STOP or not all(items):
        raise APIError(400, f"stop takes at most {MAX_STOP} non-empty strings, got {items!r}", param="stop")
    return tuple(items) or None


def include_usage(options, stream: bool) -> bool:
    if options is None:
        return False
    if not stream:
        raise APIError(400, "stream_options is only allowed with stream: true", param="stream_options")
    if not isinstance(options, dict) or set(options) - {"include_usage"}:
        raise APIError(400, f"stream_options must be an object with only include_usage, got {json.dumps(options)[:60]}",
                       param="stream_options")
    return _checked("stream_options.include_usage", validate.flag, options.get("include_usage", False))


# ------------------------------------------------------------------ response bodies
def usage(out: RequestOutput) -> dict:
    p, c = len(out.prompt_token_ids), len(out.token_ids)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def completion(request_id: str, model: str, created: int, text: str, finish_reason: str | None,
               out: RequestOutput | None = None) -> dict:
    """A whole response (with ``out``: its usage) or, without it, one stream chunk."""
    body = {"id": request_id, "object": "text_completion", "created": created, "model": model,
            "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}]}
    if out is not None:
        body["usage"] = usage(out)
    return body


def usage_chunk(request_id: str, model: str, created: int, out: RequestOutput) -> dict:
    return {"id": request_id, "object": "text_completion", "created": created, "model": model, "choices": [],
            "usage": usage(out)}


def sse(body: dict | str) -> bytes:
    """One server-sent event: ``data: {json}`` (or ``data: [DONE]``) and a blank line."""
    return f"data: {body if isinstance(body, str) else json.dumps(body)}\n\n".encode()


def now() -> int:
    return int(time.time())
