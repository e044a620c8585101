"""Chapter 06's measurements: speculative decoding against plain greedy decoding, measured beside
the formula that predicts it.

    python -m nanoinfer_lib.benchmark speculative --out spec.json [--quick]

For each drafter (the bundled draft model; ``PromptLookup``), each ``num_draft_tokens`` k and two
workloads (free text: held-out prompts; text that repeats its prompt, see ``workloads``),
``compare`` times plain ``generate(temperature=0)`` against ``speculative_generate`` in ABBA
rounds: the speedup with its 95% interval and the A/A noise; tokens/s of both with intervals (each
prompt's prefill included); alpha (the share of checked drafts that were kept), the acceptance
rate (kept / proposed) and the tokens per verification pass. The outputs are checked equal token
for token before anything is timed.

The formula: a round drafts k tokens at ``c`` target steps each and checks them in one pass, and emits
``E(alpha, k) = (1 - alpha^(k+1)) / (1 - alpha)`` tokens on average (acceptances independent, each
with probability alpha), so the speedup is ``E / (k*c + v)``, with ``v = 1`` in the papers (checking
k + 1 tokens costs one step, true while a step is bound by reading the weights). Here ``c`` and
``v_k`` (the time of one pass over k + 1 tokens / one decode step) are measured, and both predictions
are written beside the measured speedup. ``PromptLookup`` costs one scan per round (``c_lookup``
steps), counted as ``c = c_lookup / k`` per draft token; it proposes fewer than k tokens when its
match is short or absent, which the formula does not know.
"""
from __future__ import annotations

import statistics
import time

import torch

from .. import validate
from ..generation import generate
from ..paths import RESULTS
from ..speculative import PromptLookup, speculative_generate
from . import command
from .results import checkpoint_sha256, read_benchmark
from .speed import repeated_pass
from .timing import FAILS, HOLDS, INCONCLUSIVE, compare, verdict

SPECULATIVE_CPU_FILE = RESULTS / "speculative_cpu.json"
GOAL = 1.3                 # the speedup the draft model should reach at k = 4
GOAL_K = 4


def expected_tokens_per_call(alpha: float, k: int) -> float:
    """``(1 - alpha^(k+1)) / (1 - alpha)``: tokens a round emits on average when each draft is kept
    with probability ``alpha``, independently (k + 1 when alpha = 1)."""
    alpha = validate.number("alpha", alpha, 0.0, 1.0)
    k = validate.integer("k", k, 0)
    return float(k + 1) if alpha == 1.0 else (1 - alpha ** (k + 1)) / (1 - alpha)


def predicted_speedup(alpha: float, k: int, c: float, verify_cost: float = 1.0) -> float:
    """``E(alpha, k) / (k*c + verify_cost)``: the speedup over plain decoding when a draft step costs
    ``c`` decode steps and checking k + 1 tokens costs ``verify_cost`` steps (1 in the papers)."""
    c = validate.number("c", c, 0.0)
    verify_cost = validate.number("verify_cost", verify_cost, 0.0, low_open=True)
    return expected_tokens_per_call(alpha, k) / (k * c + verify_cost)


def best_num_draft_tokens(alpha: float, c: float, max_k: int = 16, verify_costs: dict | None = None) -> int:
    """The k in 1..max_k with the highest ``predicted_speedup`` (``verify_costs``: {k: v_k}, default 1)."""
    max_k = validate.integer("max_k", max_k, 1)
    costs = verify_costs or {}
    return max(range(1, max_k + 1), key=lambda k: predicted_speedup(alpha, k, c, costs.get(k, 1.0)))


def forward_fn(model, n_tokens: int = 1, position: int = 64, seed: int = 0):
    """A function that runs one cached forward pass over ``n_tokens`` new tokens after a cache of
    ``position`` positions (prefilled here from seeded random ids), then forgets them, so every call
    repeats the same pass (``repeated_pass`` at batch 1). ``n_tokens=1`` is a decode step; ``k + 1``
    is a verification pass."""
    return repeated_pass(model, 1, position, n_tokens, seed)


def measure_costs(model, draft, ks, position: int, rounds: int = 5,
                  lookup_tokens: list[int] | None = None) -> dict:
    """The cost ratios the formula needs, each a ``compare`` against one decode step of ``model``:
    ``c`` (a draft step), ``verify[k]`` (a pass over k + 1 tokens) and ``c_lookup`` (one
    ``PromptLookup.propose`` over ``lookup_tokens``: its cost per round, not per draft token).
    Ratios with their 95% intervals."""
    step = forward_fn(model, 1, position)
    out = {"position": position, "verify": {}}
    cmp = compare(forward_fn(draft, 1, position), step, names=("draft step", "target step"), rounds=rounds)
    out.update(target_step_s=cmp.median_b, draft_step_s=cmp.median_a, c=cmp.ratio, c_interval=list(cmp.interval))
    for k in ks:
        v = compare(forward_fn(model, k + 1, position), step, names=(f"verify {k + 1}", "target step"),
                    rounds=rounds)
        out["verify"][k] = {"ratio": v.ratio, "interval": list(v.interval), "seconds": v.median_a}
    if lookup_tokens is not None:
        lookup = PromptLookup()
        v = compare(lambda: lookup.propose(lookup_tokens, max(ks)), step, names=("lookup", "target step"),
                    rounds=rounds)
        out.update(c_lookup=v.ratio, c_lookup_interval=list(v.interval))
    return out


def workloads(model, tokenizer, eval_set: list[dict], n_prompts: int,
              echo_tokens: int = 32) -> dict[str, list[torch.Tensor]]:
    """Prompts of two kinds from the held-out evaluation set: "free text" (the prompts as they are)
    and "repeats its prompt": each prompt followed by the model's own greedy continuation of it
    (``echo_tokens`` tokens). A small model's greedy text falls into loops, so what it writes next
    repeats text that its prompt already holds, as an answer that quotes its input does. (The
    bundled model is too small to copy a quoted passage it did not write itself.)"""
    free = [torch.tensor([tokenizer.encode(item["prompt"])]) for item in eval_set[:n_prompts]]
    echoed = [generate(model, ids, max_new_tokens=echo_tokens, temperature=0) for ids in free]
    return {"free text": free, "repeats its prompt": echoed}


def acceptance(model, prompts, draft, k: int, new_tokens: int) -> dict:
    """Over ``prompts`` (greedy), after checking that every output equals plain greedy ``generate``'s:
    alpha (accepted / checked drafts, the formula's), the acceptance rate (accepted / proposed),
    tokens per verification pass and drafts per round."""
    n = dict(accepted=0, rejected=0, proposed=0, rounds=0, new_tokens=0)
    for ids in prompts:
        out = speculative_generate(model, ids, draft, new_tokens, k, temperature=0)
        if not torch.equal(out.sequences, generate(model, ids, max_new_tokens=new_tokens, temperature=0)):
            raise RuntimeError(f"speculative decoding with {draft!r}, k={k} differs from greedy generate")
        n = {key: value + getattr(out, key) for key, value in n.items()}
    checked = n["accepted"] + n["rejected"]
    return {"alpha": n["accepted"] / checked if checked else 0.0,
            "acceptance_rate": n["accepted"] / n["proposed"] if n["proposed"] else 0.0,
            "tokens_per_call": n["new_tokens"] / n["rounds"], "drafts_per_round": n["proposed"] / n["rounds"],
            "new_tokens": n["new_tokens"]}


def measure_run(model, prompts, draft, k: int, new_tokens: int, rounds: int, costs: dict, c: float) -> dict:
    """One (drafter, k, workload) row: the speedup measured with ``compare`` and predicted by the
    formula, with ``c`` the cost of one draft token in decode steps."""
    row = {"k": k, **acceptance(model, prompts, draft, k, new_tokens)}
    plain = lambda: [generate(model, p, max_new_tokens=new_tokens, temperature=0) for p in prompts]   # noqa: E731
    spec = lambda: [speculative_generate(model, p, draft, new_tokens, k, temperature=0) for p in prompts]   # noqa: E731
    cmp = compare(plain, spec, names=("plain greedy", f"speculative k={k}"), rounds=rounds)
    n = row["new_tokens"]
    tok_s = lambda lo_hi: [n / lo_hi[1], n / lo_hi[0]]                                              # noqa: E731
    alpha, v = row["alpha"], costs["verify"][k]["ratio"]
    row.update(speedup=cmp.ratio, interval=list(cmp.interval), noise=list(cmp.noise),
               plain_tokens_per_s=n / cmp.median_a, plain_interval=tok_s(cmp.spread("a")),
               spec_tokens_per_s=n / cmp.median_b, spec_interval=tok_s(cmp.spread("b")),
               predicted=predicted_speedup(alpha, k, c), predicted_with_verify_cost=predicted_speedup(alpha, k, c, v),
               times_plain_s=cmp.a, times_spec_s=cmp.b)
    return row


def claims(runs: list[dict]) -> list[dict]:
    """The chapter's claims about these runs, each with a verdict decided here."""
    def get(drafter: str, workload: str, k: int) -> dict | None:
        return next((r for r in runs if (r["drafter"], r["workload"], r["k"]) == (drafter, workload, k)), None)
    out = []
    d = get("draft model", "free text", GOAL_K)
    if d is not None:
        out.append({"claim": f"the draft model at k={GOAL_K} is at least {GOAL}x faster than plain greedy decoding",
                    "speedup": d["speedup"], "interval": d["interval"],
                    "verdict": verdict(d["interval"], GOAL, None, d["noise"])})
    rep, free = get("prompt lookup", "repeats its prompt", GOAL_K), get("prompt lookup", "free text", GOAL_K)
    if rep is not None and free is not None:
        more = (HOLDS if rep["interval"][0] > free["interval"][1] else
                FAILS if rep["interval"][1] < free["interval"][0] else INCONCLUSIVE)
        out.append({"claim": f"prompt lookup (k={GOAL_K}) is faster than plain greedy on text that repeats its prompt",
                    "speedup": rep["speedup"], "interval": rep["interval"],
                    "verdict": verdict(rep["interval"], 1.0, None, rep["noise"])})
        out.append({"claim": f"prompt lookup (k={GOAL_K}) gains more on text that repeats its prompt than on free text",
                    "speedup": [rep["speedup"], free["speedup"]], "interval": [rep["interval"], free["interval"]],
                    "verdict": more})
    return out


def best_rows(runs: list[dict]) -> list[dict]:
    """For each workload and drafter, the k whose measured speedup is highest."""
    out = []
    for key in dict.fromkeys((r["workload"], r["drafter"]) for r in runs):
        r = max((r for r in runs if (r["workload"], r["drafter"]) == key), key=lambda r: r["speedup"])
        out.append({k: r[k] for k in ("workload", "drafter", "k", "speedup", "interval", "alpha", "tokens_per_call")})
    return out


def run(model, draft, prompts: dict[str, list[torch.Tensor]], ks=range(1, 9), new_tokens: int = 32,
        rounds: int = 5, log=print) -> dict:
    """Every row of the benchmark: costs first, then each (workload, drafter, k). Returns the data
    part of a results file."""
    ks = [validate.integer("num_draft_tokens[i]", k, 1) for k in ks]
    new_tokens = validate.integer("new_tokens", new_tokens, 1)
    first = next(iter(prompts.values()))
    position = int(statistics.mean(p.shape[1] for p in first)) + new_tokens // 2
    lookup_tokens = generate(model, first[0], max_new_tokens=new_tokens // 2, temperature=0)[0].tolist()
    costs = measure_costs(model, draft, ks, position, rounds=rounds, lookup_tokens=lookup_tokens)
    log(f"target step {costs['target_step_s'] * 1e3:.3f} ms, draft step {costs['draft_step_s'] * 1e3:.3f} ms: "
        f"c = {costs['c']:.3f} [{costs['c_interval'][0]:.3f}-{costs['c_interval'][1]:.3f}]; prompt lookup "
        f"c = {costs['c_lookup']:.3f}; verify k+1 tokens = " + ", ".join(
            f"k={k}: {v['ratio']:.2f}" for k, v in costs["verify"].items()) + " steps")
    runs = []
    for workload, ids in prompts.items():
        for name, drafter in (("draft model", draft), ("prompt lookup", PromptLookup())):
            for k in ks:
                # a draft model pays c per draft token; prompt lookup one scan per round, whatever k
                c = costs["c"] if name == "draft model" else costs["c_lookup"] / k
                row = {"workload": workload, "drafter": name,
                       **measure_run(model, ids, drafter, k, new_tokens, rounds, costs, c)}
                runs.append(row)
                log(f"{workload:18s} {name:13s} k={k}: alpha {row['alpha']:.2f}, {row['tokens_per_call']:.2f} "
                    f"tokens/call, {row['plain_tokens_per_s']:.0f} -> {row['spec_tokens_per_s']:.0f} tokens/s, "
                    f"speedup {row['speedup']:.2f}x [{row['interval'][0]:.2f}-{row['interval'][1]:.2f}] "
                    f"(formula {row['predicted']:.2f}x; with the measured verify cost "
                    f"{row['predicted_with_verify_cost']:.2f}x)")
    costs["verify"] = [{"k": k, **v} for k, v in costs["verify"].items()]      # JSON keys are strings: a list
    return {"costs": costs, "runs": runs, "claims": claims(runs), "best": best_rows(runs),
            "new_tokens": new_tokens, "rounds": rounds,
            "prompts": {w: len(p) for w, p in prompts.items()},
            "prompt_tokens": {w: [p.shape[1] for p in ps] for w, ps in prompts.items()},
            "model": model.config.to_dict(), "draft": draft.config.to_dict(),
            "model_parameters": model.num_params(), "draft_parameters": draft.num_params()}


def load_speculative(path=SPECULATIVE_CPU_FILE) -> dict | None:
    """A results file of this benchmark (None if absent): ``{"meta": hardware and provenance, **data}``."""
    res = read_benchmark(path, "speculative")
    return None if res is None else {"meta": res["meta"], **res["data"]}


def main(argv: list[str] | None = None) -> int:
    """``python -m nanoinfer_lib.benchmark speculative --out FILE``."""
    p = command.parser("speculative", "Speculative decoding (draft model, prompt lookup) vs plain greedy decoding.")
    p.add_argument("--num-draft-tokens", type=int, nargs="+", default=None, help="values of k (default 1..8)")
    p.add_argument("--prompts", type=int, default=None, help="held-out prompts per workload (default 3)")
    p.add_argument("--new-tokens", type=int, default=None, help="new tokens per prompt (default 32)")
    p.add_argument("--rounds", type=int, default=None, help="ABBA rounds per comparison (default 5)")
    args = command.parse(p, argv, "defaults of k in {1, 4}, 2 prompts of 16 tokens, 2 rounds: a smoke test")
    ks = command.default(args, args.num_draft_tokens, [1, GOAL_K], list(range(1, 9)))
    for k in ks:
        validate.integer("--num-draft-tokens", k, 1)
    n_prompts = validate.integer("--prompts", command.default(args, args.prompts, 2, 3), 1, 100)
    new_tokens = validate.integer("--new-tokens", command.default(args, args.new_tokens, 16, 32), 1, 256)
    rounds = validate.integer("--rounds", command.default(args, args.rounds, 2, 5), 2)
    from ..checkpoint import load_model
    from ..metrics import load_eval_set
    from ..paths import BUNDLED_CHECKPOINT, DRAFT_CHECKPOINT
    model, tokenizer = load_model()
    draft, _ = load_model(name="draft")
    torch.manual_seed(0)
    t0 = time.perf_counter()
    data = run(model, draft, workloads(model, tokenizer, load_eval_set(), n_prompts), ks, new_tokens, rounds)
    data.update(seconds=round(time.perf_counter() - t0, 1), model_sha256=checkpoint_sha256(BUNDLED_CHECKPOINT),
                draft_sha256=checkpoint_sha256(DRAFT_CHECKPOINT), dtype="float32")
    for b in data["best"]:
        print(f"best k for {b['drafter']} on {b['workload']}: {b['k']} ({b['speedup']:.2f}x "
              f"[{b['interval'][0]:.2f}-{b['interval'][1]:.2f}])")
    for c in data["claims"]:
        print(f"{c['verdict']:>13s}: {c['claim']}")
    command.save(args, "speculative", data, argv, repeats=rounds)
    return 0
