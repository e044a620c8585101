"""``python -m nanoinfer_lib "To be, or not to be"``: stream a continuation from the bundled model."""
from __future__ import annotations

import sys
import time

from . import cli
from .checkpoint import load_model
from .generation import generate


def main(argv: list[str] | None = None) -> int:
    p = cli.ArgumentParser(prog="python -m nanoinfer_lib",
                           description="Stream a continuation of PROMPT from the bundled Shakespeare model.")
    p.add_argument("prompt", nargs="?", default="ROMEO.\n", help="text to continue (default: 'ROMEO.\\n')")
    p.add_argument("--max-new-tokens", type=int, default=200, help="tokens to generate (default 200)")
    p.add_argument("--temperature", type=float, default=0.8, help="0 = greedy; higher = more random (default 0.8)")
    p.add_argument("--top-k", type=int, default=None, help="sample only from the k most likely tokens")
    p.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling mass in [0, 1] (default 0.95)")
    p.add_argument("--min-p", type=float, default=None, help="drop tokens below min_p x the top probability")
    p.add_argument("--repetition-penalty", type=float, default=None, help="> 1 discourages repeated tokens")
    p.add_argument("--seed", type=int, default=None, help="seed for reproducible sampling")
    p.add_argument("--checkpoint", default=None, help="another checkpoint file (default: the bundled model)")
    p.add_argument("--model", default="shakespeare", choices=["shakespeare", "draft"],
                   help="which bundled model (default shakespeare; draft is chapter 06's small draft model)")
    p.add_argument("--no-cache", action="store_true", help="recompute the whole context every step (slow path)")
    args = p.parse_args(argv)
    return cli.guarded(stream, args)     # a bad argument or a bad file: one line on stderr, no traceback


def stream(args) -> int:
    model, tokenizer = load_model(checkpoint=args.checkpoint, name=args.model)
    ids = tokenizer.encode(args.prompt, return_tensors="pt")
    tokens = generate(model, ids, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                      top_k=args.top_k, top_p=args.top_p, min_p=args.min_p,
                      repetition_penalty=args.repetition_penalty, seed=args.seed,
                      use_cache=not args.no_cache, stream=True)    # every argument checked here, before any output
    print(args.prompt, end="", flush=True)
    t0, n = time.perf_counter(), 0
    for token in tokens:
        print(tokenizer.decode(token), end="", flush=True)
        n += 1
    dt = time.perf_counter() - t0
    print(f"\n\n[{n} tokens in {dt:.2f}s, {n / max(dt, 1e-9):.0f} tokens/s]", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
