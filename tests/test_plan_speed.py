"""The plan's speeds, costs and front (plan/speed.py), checked against independent truths:

- each serving row's speed is what ``llmsize infer`` says at the row's own command (the API, not
  the plan's shared traffic compile), at the batch the row reports;
- $/M tokens is price · GPUs · 10⁶ / (3600 · tokens/s), from the catalog price table read here;
- the front is exactly the set of non-dominated rows, found by brute force over every pair;
- the training rows are ranked by time: no feasible layout the row list leaves out is faster
  (checked on the API's own ``train`` at each layout of the same GPU count).
"""

from __future__ import annotations

import json
import shlex

import pytest

import llmsize
from llmsize.errors import LlmsizeError
from llmsize.plan.speed import dominates, pareto_front

MODEL = "llama-3.1-8b"


def brute_front(points):
    """Non-dominated points by checking every pair (lower is better on both axes)."""
    return [p is not None and not any(q is not None and dominates(q, p) for q in points) for p in points]


@pytest.mark.parametrize("seed", range(20))
def test_front_is_the_non_dominated_set(seed):
    import random

    rng = random.Random(seed)
    points = [None if rng.random() < 0.1 else (rng.choice([1.0, 2.0, 3.0, rng.random()]),
                                                 rng.choice([1.0, 2.0, rng.random()])) for _ in range(30)]
    assert pareto_front(points) == brute_front(points)


def _rows(doc):
    return [(g["gpu"], r) for g in doc["gpus"] for r in g["layouts"]]


@pytest.fixture(scope="module")
def serve_plan():
    return llmsize.plan("llama-3.1-70b-instruct", ctx_size=8192, gpu="h100-sxm,h200,a100-sxm-80,l40s,mi300x",
                        input_len=2048, output_len=256).to_dict()


def test_serve_rows_carry_speeds_and_the_front_is_non_dominated(serve_plan):
    rows = _rows(serve_plan)
    assert rows and all(r["speed"] is not None for _, r in rows)
    points = [(r["speed"]["tpot_s"]["value"], r["speed"]["usd_per_million_tokens"]["value"])
              if "usd_per_million_tokens" in r["speed"] else None for _, r in rows]
    assert [r["front"] for _, r in rows] == brute_front(points)
    assert any(r["front"] for _, r in rows)
    for g in serve_plan["gpus"]:  # ranked by $/M tokens within each GPU type
        costs = [r["speed"]["usd_per_million_tokens"]["value"] for r in g["layouts"]
                 if "usd_per_million_tokens" in r["speed"]]
        assert costs == sorted(costs)


def test_serve_cost_is_price_times_gpus_over_throughput(serve_plan):
    from llmsize.hardware.prices import PRICES_JSON

    with open(PRICES_JSON) as f:
        first = {}
        for p in json.load(f)["prices"]:
            first.setdefault(p["gpu"], p["usd_per_hour"])
    for gpu, r in _rows(serve_plan):
        s = r["speed"]
        if gpu not in first:
            assert "usd_per_million_tokens" not in s and s["price"] is None
            continue
        expected = first[gpu] * r["gpus"] * 1e6 / (3600 * s["throughput_tokens_per_s"]["value"])
        assert s["usd_per_million_tokens"]["value"] == pytest.approx(expected, rel=1e-12)


def test_serve_speed_is_infer_at_the_rows_command(serve_plan):
    """The row's command, with its batch as --concurrency, gives the same figures through infer."""
    for _, r in _rows(serve_plan)[:4]:
        argv = shlex.split(r["command"])[2:]
        opts = _infer_options(argv)
        perf = llmsize.infer(argv[0], **opts, concurrency=r["speed"]["batch"]).to_dict()["performance"]
        assert perf["setting"]["batch"] == r["speed"]["batch"]
        for key in ("tpot_s", "ttft_s", "throughput_tokens_per_s", "e2e_latency_s"):
            assert perf[key]["value"] == pytest.approx(r["speed"][key]["value"], rel=1e-9), key


def _infer_options(argv):
    names = {"-c": "ctx_size", "--engine": "engine", "--tp": "tp", "--pp": "pp", "--gpu": "gpu",
             "--input-len": "input_len", "--output-len": "output_len"}
    out = {}
    for flag, value in zip(argv[1::2], argv[2::2], strict=False):
        out[names[flag]] = int(value) if value.isdigit() else value
    return out


def test_rank_and_concurrency_options():
    p = llmsize.plan(MODEL, ctx_size=4096, gpu="h100-sxm,l4", rank="tpot", concurrency=8,
                     price=["h100-sxm=2", "l4=0.5"]).to_dict()
    assert p["ranking"] == "TPOT"
    for g in p["gpus"]:
        tpots = [r["speed"]["tpot_s"]["value"] for r in g["layouts"]]
        assert tpots == sorted(tpots)
        assert all(r["speed"]["batch"] <= 8 for r in g["layouts"])
        assert all(r["speed"]["price"]["provider"] == "given by the user" for r in g["layouts"])


def test_a_gpu_given_by_memory_has_no_speed():
    p = llmsize.plan(MODEL, ctx_size=4096, gpu_mem="24GiB").to_dict()
    assert all(r["speed"] is None and r["front"] is False for _, r in _rows(p))


@pytest.mark.parametrize(("options", "words"), [
    ({"rank": "time"}, "time does not order a serve plan"),
    ({"mode": "train", "rank": "tpot"}, "does not order a train plan"),
    ({"price": "2.5", "gpu": "h100-sxm,l4"}, "bare price but the plan has 2 GPU types"),
    ({"price": "a100=2", "gpu": "h100-sxm"}, "not one of the plan's GPUs"),
    ({"price": "h100=-1"}, "expected GPU=USD_PER_HOUR"),
    ({"mfu": 1.5}, "mfu"),
    ({"mode": "train", "tokens": "lots"}, "not a token count"),
])
def test_bad_speed_options_are_one_line(options, words):
    with pytest.raises(LlmsizeError) as e:
        llmsize.plan(MODEL, **{"gpu": "h100-sxm", **options})
    assert words in str(e.value) and "\n" not in str(e.value)


def test_cli_bad_rank_is_one_line(capsys):
    from llmsize.cli import main

    assert main(["plan", MODEL, "--rank", "tpot", "--train", "--gpu", "h100-sxm"]) == 2
    err = capsys.readouterr().err
    assert "does not order a train plan" in err and err.count("\n") == 1


# --- training -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def train_plan():
    return llmsize.plan(MODEL, mode="train", seq=4096, gpu="h100-sxm,h200,a100-sxm-80", tokens=1e12,
                        keep=3).to_dict()


def test_train_rows_carry_time_and_cost_and_the_front_is_non_dominated(train_plan):
    rows = _rows(train_plan)
    assert rows and all(r["speed"] is not None for _, r in rows)
    for _, r in rows:  # the run's time is D / (tokens/s per GPU · GPUs), its cost at the price
        s = r["speed"]
        assert s["time_s"]["value"] == pytest.approx(1e12 / (s["tokens_per_s_per_gpu"]["value"] * r["gpus"]),
                                                     rel=1e-9)
        assert s["cost_usd"]["value"] == pytest.approx(
            s["time_s"]["value"] / 3600 * r["gpus"] * s["price"]["usd_per_hour"], rel=1e-9)
    points = [(r["speed"]["time_s"]["value"], r["speed"]["cost_usd"]["value"]) for _, r in rows]
    assert [r["front"] for _, r in rows] == brute_front(points)
    assert train_plan["ranking"] == "time to train"


def test_train_rows_are_the_fastest_layouts_that_fit(train_plan):
    """At the H100 row count, every layout (of the searched ones) that the API says fits and is
    faster than the last row shown is among the rows shown."""
    g = next(g for g in train_plan["gpus"] if g["gpu"] == "h100-sxm")
    shown = [r["speed"]["tokens_per_s_per_gpu"]["value"] for r in g["layouts"]]
    assert shown == sorted(shown, reverse=True)
    n = g["fewest_gpus"]
    slowest = shown[-1]
    for tp in (1, 2, 4, 8):
        for recompute in ("none", "selective", "full"):
            if n % tp:
                continue
            try:
                r = llmsize.train(MODEL, seq=4096, dp=n // tp, tp=tp, sp=tp > 1, recompute=recompute,
                                  gpu=f"h100-sxm:{n}", tokens=1e12)
            except LlmsizeError:
                continue
            if r.verdict.fits:
                assert r.performance["tokens_per_s_per_gpu"] <= slowest * (1 + 1e-9) or any(
                    abs(v - r.performance["tokens_per_s_per_gpu"]) < 1e-6 * v for v in shown), (tp, recompute)
