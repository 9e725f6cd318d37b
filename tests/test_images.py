"""Images per sequence (``--images``): what a training step without images trains, and the image
KV cache that inference sizes.

Training: which parameters a step gives a gradient is read off transformers itself. A tiny
``MllamaForConditionalGeneration`` runs one forward and backward in fp32 on the CPU, text only or
with one image, and the parameters whose ``.grad`` is set are counted; torch's AdamW then makes
states for exactly those (``_init_group`` skips ``p.grad is None``), which the step checks too.
llmsize's trainable count must equal it. The grid row llama-3.2-90b-vision-instruct train b2 s512
checks the bytes (validation/results.json).
"""

from __future__ import annotations

import pytest
from cli_run import cli_json, run

from llmsize import api
from llmsize.errors import LlmsizeError
from llmsize.inference.estimate import InferenceSpec
from llmsize.sources import catalog
from llmsize.sources.hf_config import from_hf_config
from llmsize.training.estimate import TrainSpec, estimate_training, trainable_params

VISION = "llama-3.2-90b-vision-instruct"
# the KV row of Llama 3.2 90B Vision: 2 (K, V) · 8 kv heads · 128 · 2 bytes; 6,404 tokens per image
# (4 tiles × 1,601) in each of its 20 cross-attention layers (test_kvcache.py checks these)
IMAGE_KV = 20 * 6404 * 2 * 8 * 128 * 2


def _tiny_mllama():
    from test_kvcache import MLLAMA

    return MLLAMA, from_hf_config(MLLAMA, "mllama")[0]


def _grads_after_a_step(images: int) -> tuple[int, int]:
    """(parameters with a gradient, parameters with AdamW states) after one real step of the tiny
    model with ``images`` images per sequence (every tile present)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from llmsize.measure.harness import build

    cfg, _ = _tiny_mllama()
    torch.manual_seed(0)
    model = build(cfg, "mllama", dtype="fp32", attn="sdpa").train()
    batch, tokens = 2, 9
    ids = torch.randint(1, 90, (batch, tokens))
    kwargs = {"input_ids": ids, "labels": ids}
    if images:
        vision = cfg["vision_config"]
        tiles, size = vision["max_num_tiles"], vision["image_size"]
        kwargs |= dict(pixel_values=torch.randn(batch, images, tiles, 3, size, size),
                       aspect_ratio_ids=torch.full((batch, images), 2, dtype=torch.long),
                       aspect_ratio_mask=torch.ones(batch, images, tiles, dtype=torch.long),
                       cross_attention_mask=torch.ones(batch, tokens, images, tiles, dtype=torch.long))
    model(**kwargs).loss.backward()
    opt = torch.optim.AdamW(model.parameters())
    opt.step()
    with_grad = sum(p.numel() for p in model.parameters() if p.grad is not None)
    with_state = sum(p.numel() for p in model.parameters() if opt.state.get(p))
    return with_grad, with_state


@pytest.mark.parametrize("images", [0, 1])
def test_trainable_parameters_are_those_transformers_gives_a_gradient(images):
    """Text only: the vision tower, the projector and the cross-attention layers (whole: the text
    model skips them) get no gradient and no AdamW state; with an image, every parameter does."""
    _, arch = _tiny_mllama()
    with_grad, with_state = _grads_after_a_step(images)
    assert with_state == with_grad
    assert trainable_params(arch, TrainSpec(seq=9, images=images, recipe="fp32")) == with_grad


def test_text_only_step_trains_the_text_path_only():
    """Llama 3.2 90B Vision: the 20 cross-attention layers and the vision tower keep their weights
    but no gradients or states; the 80 self-attention layers, embedding and head train."""
    arch = from_hf_config(catalog.lookup(VISION).config, VISION)[0]
    text, everything = TrainSpec(seq=512), TrainSpec(seq=512, images=1)
    r0, r1 = estimate_training(arch, text), estimate_training(arch, everything)
    assert r0.part("weights") == r1.part("weights")
    assert r1.trainable == r1.parameters  # with images every parameter trains
    assert r0.trainable < r1.trainable
    assert r0.part("optimizer_states") * r1.trainable == pytest.approx(
        r1.part("optimizer_states") * r0.trainable, rel=1e-6)  # AdamW fp32: 8 bytes per trained param
    lines = {name: n for name, _, n in r0.budget}
    assert lines["weights a text-only step leaves untouched (32-bit)"] == r0.parameters - r0.trainable


def test_persistent_buffers_keep_every_parameter():
    """Megatron's main grads and DeepSpeed's fp32 partitions are allocated at start for every
    parameter that requires a gradient: a text-only step changes nothing there."""
    arch = from_hf_config(catalog.lookup(VISION).config, VISION)[0]
    for recipe in ("megatron", "deepspeed"):
        r = estimate_training(arch, TrainSpec(seq=512, recipe=recipe))
        assert r.trainable == r.parameters


def test_infer_images_add_their_cross_attention_kv():
    r0 = api.infer(VISION, ctx_size=1000)
    r2 = api.infer(VISION, ctx_size=1000, images=2, batch=3)
    r0b = api.infer(VISION, ctx_size=1000, batch=3)
    assert r2.part("kv_cache") - r0b.part("kv_cache") == 3 * 2 * IMAGE_KV
    assert "--images N counts them" in " ".join(r0.notes)
    assert any("not modelled" in w for w in r2.warnings)


def test_inversions_keep_the_image_kv():
    """max context with images leaves room for the images' fixed KV per sequence: the context
    found holds the text KV of that context plus each sequence's image KV (this rank's quarter)."""
    opts = dict(gpu="h200:2", tp=2, max_context=True, batch=8)
    text, with_images = api.infer(VISION, **opts), api.infer(VISION, images=1, **opts)
    assert 0 < with_images.max_context < text.max_context < 131072
    kv = with_images.at.part("kv_cache")
    assert kv == 8 * (with_images.max_context * 80 * 2 * 4 * 128 * 2 + IMAGE_KV // 2)


def test_plan_train_with_images_needs_more(capsys):
    """A plan's training layouts follow the step asked for: with an image, the vision tower and the
    cross-attention layers train too, so at least as many GPUs are needed, and the plan's
    per-GPU total is what ``llmsize train`` says for the layout it prints."""
    argv = ("plan", VISION, "--train", "--gpu", "h100", "--seq", "2048")
    text, images = cli_json(capsys, *argv), cli_json(capsys, *argv, "--images", "1")
    assert images["question"] != text["question"]
    assert images["gpus"][0]["fewest_gpus"] > text["gpus"][0]["fewest_gpus"]
    best = images["gpus"][0]["layouts"][0]
    par = best["parallel"]
    report = api.train(VISION, seq=2048, images=1, gpu=f"h100:{best['gpus']}", dp=par["dp"], tp=par["tp"],
                       sp=par["sp"], pp=par["pp"], vpp=par["vpp"], zero=par["zero"], fsdp=par["fsdp"],
                       recompute=best["recompute"])
    assert report.total_bytes == best["total_bytes"]


@pytest.mark.parametrize(("argv", "message"), [
    (("infer", VISION, "--images", "-1"), "--images: '-1' must be an integer ≥ 0"),
    (("infer", VISION, "--images", "1.5"), "--images: '1.5' is not an integer"),
    (("train", VISION, "--images", "two"), "--images: 'two' is not an integer"),
    (("infer", "llama-3.1-8b", "--images", "1"), "--images 1: llama-3.1-8b has no cross-attention layers"),
    (("infer", "gemma-3-12b", "--images", "1"), "an image is tokens of its prompt: count them in --ctx-size"),
    (("train", "llama-3.1-8b", "--images", "1"), "--images 1: llama-3.1-8b has no vision tower"),
    (("plan", "llama-3.1-8b", "--gpu", "h100", "--engine", "hf", "--images", "1"), "no cross-attention"),
    (("plan", "llama-3.1-8b", "--train", "--gpu", "h100", "--images", "1"), "has no vision tower"),
])
def test_bad_images_are_one_line_errors(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code != 0 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("images", [-1, 1.5, True, "two"])
def test_bad_images_raise(images):
    """The API's options and a spec built by hand are checked alike."""
    for call in (lambda: api.infer(VISION, ctx_size=100, images=images),
                 lambda: api.train(VISION, seq=8, images=images),
                 lambda: InferenceSpec(100, images=images).check(),
                 lambda: TrainSpec(seq=8, images=images).check()):
        with pytest.raises(LlmsizeError, match="images"):
            call()


def test_json_carries_images(capsys):
    assert cli_json(capsys, "infer", VISION, "-c", "100", "--images", "2")["inputs"]["images"] == 2
    doc = cli_json(capsys, "train", VISION, "--seq", "64", "--images", "1")
    assert doc["inputs"]["images"] == 1 and doc["trainable_parameters"] == doc["parameters"]
    doc = cli_json(capsys, "train", VISION, "--seq", "64")
    assert doc["inputs"]["images"] == 0 and doc["trainable_parameters"] < doc["parameters"]
