"""``llmsize train`` end to end: the JSON contract, the table, and bad input as one line with
exit code 2 (no traceback)."""

from __future__ import annotations

import pytest
from cli_run import cli_json, run

GiB = 2**30


def train_json(capsys, *argv: str) -> dict:
    return cli_json(capsys, "train", *argv)


def test_json_contract(capsys):
    d = train_json(capsys, "llama-3.1-8b", "--seq", "4096", "--recipe", "amp", "--zero", "3", "--dp", "8")
    assert isinstance(d["total_bytes"], int)
    for key in ("weights", "gradients", "optimizer_states", "activations", "overhead"):
        assert isinstance(d["breakdown"][key], int)
    assert d["total_bytes"] == sum(d["breakdown"].values())
    assert d["peak_phase"] in ("forward", "backward", "optimizer")
    assert d["gpus"] == 8 and d["per_gpu"]
    # ZeRO-3 over 8 GPUs: fp32 weights 4Ψ/8, Adam 8Ψ/8 (amp keeps no separate master copy)
    assert d["breakdown"]["weights"] == 8_030_261_248 * 4 // 8


def test_table_shows_the_budget_and_phase(capsys):
    code, out, _ = run(capsys, "train", "llama-3.1-8b", "--seq", "2048", "--recipe", "megatron")
    assert code == 0
    assert "master weights (32-bit)" in out and "per GPU at the peak" in out
    assert "phase peaks" in out


def test_qlora_rank_16(capsys):
    d = train_json(capsys, "llama-3.1-8b", "--seq", "4096", "--qlora", "--lora-rank", "16")
    assert d["inputs"]["lora"]["base"] == "nf4-dq" and d["inputs"]["lora"]["rank"] == 16
    # r · (d_in + d_out) on q, o (4096 → 4096), k, v (4096 → 1024), gate, up, down (4096 ↔ 14336)
    assert d["trainable_parameters"] == 16 * 32 * (2 * (4096 + 4096) + 2 * (4096 + 1024) + 3 * (4096 + 14336))
    assert d["breakdown"]["weights"] < 7 * GiB  # 4-bit layers, bf16 embeddings and head


def test_recompute_lowers_activations(capsys):
    none = train_json(capsys, "qwen3-8b", "--seq", "8192")["breakdown"]["activations"]
    full = train_json(capsys, "qwen3-8b", "--seq", "8192", "--recompute", "full")["breakdown"]["activations"]
    assert full < none / 2


def test_overhead_override(capsys):
    zero = ("cuda_context=0", "fragmentation=0", "cublas_workspace=0")
    d = train_json(capsys, "gpt2", "--seq", "1024", *(f for z in zero for f in ("--overhead", z)))
    assert d["breakdown"]["overhead"] == 0


@pytest.mark.parametrize(("argv", "message"), [
    (("train", "llama-3.1-8b", "--recipe", "fp8"), "invalid choice"),
    (("train", "llama-3.1-8b", "--seq", "0"), "must be positive"),
    (("train", "llama-3.1-8b", "--zero", "4"), "invalid choice"),
    (("train", "llama-3.1-8b", "--tp", "3"), "--tp 3 must divide"),
    (("train", "llama-3.1-8b", "--sp"), "--sp"),
    (("train", "llama-3.1-8b", "--zero", "1", "--fsdp", "full"), "choose one"),
    (("train", "llama-3.1-8b", "--lora-targets", "q,v"), "--lora-targets needs"),
    (("train", "llama-3.1-8b", "--lora-rank", "8", "--lora-targets", "qq"), "--lora-targets qq"),
    (("train", "llama-3.1-8b", "--ep", "2", "--dp", "2"), "mixture-of-experts"),
    (("train", "no-such-model"), "no-such-model"),
    (("train",), "give a SOURCE"),
    (("train", "llama-3.1-8b", "--overhead", "bogus=1"), "--overhead"),
])
def test_bad_input_is_one_line_exit_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_megatron_reduces_in_its_main_grad_buffer(capsys):
    """Megatron's distributed optimizer reduce-scatters from the persistent main-grad buffer (the
    gradients line); DeepSpeed ZeRO-1 keeps a reduce bucket of reduce_bucket_size = 5e8 elements
    (DeepSpeed's documented default), here in the 16-bit gradient dtype."""
    megatron = train_json(capsys, "llama-3.1-8b", "--seq", "1024", "--recipe", "megatron", "--zero", "1",
                          "--dp", "8")
    deepspeed = train_json(capsys, "llama-3.1-8b", "--seq", "1024", "--recipe", "deepspeed", "--zero", "1",
                           "--dp", "8")
    assert megatron["breakdown"]["comm_buffers"] == 0
    assert deepspeed["breakdown"]["comm_buffers"] >= 500_000_000 * 2
