"""``llmsize plot``: the SVG's numbers (data attributes) are the API's numbers, point by point.

The truth is the Python API asked the same question at each x; the SVG is parsed as XML (it must
be well-formed) and every bar, error bar, point and limit line is compared with it.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

import llmsize
from llmsize.cli import main
from llmsize.svg import Bar, Figure, Row, Series, render
from llmsize.units import GiB

NS = "{http://www.w3.org/2000/svg}"
MODEL = "llama-3.1-8b"


def _svg(path) -> ET.Element:
    return ET.parse(path).getroot()


def _by_class(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if e.get("class") == cls]


def test_breakdown_bars_are_the_json(tmp_path):
    out = tmp_path / "b.svg"
    argv = ["plot", MODEL, "--kind", "breakdown", "-c", "8192", "--gpu-mem", "24GiB", "-o", str(out)]
    assert main(argv) == 0
    root = _svg(out)
    truth = llmsize.infer(MODEL, ctx_size=8192, gpu_mem="24GiB")
    bars = {e.get("data-term"): int(e.get("data-bytes")) for e in _by_class(root, "bar")}
    assert bars == truth.to_dict()["breakdown"]
    errors = {e.get("data-term"): (int(e.get("data-low")), int(e.get("data-high")))
              for e in _by_class(root, "errorbar")}
    act, bar = truth.part("activations"), truth.error_bars()["activations"]
    assert errors["activations"] == (round(act * (1 - bar["max"])), round(act * (1 + bar["max"])))
    assert "weights" not in errors  # exact: no whisker
    assert [int(e.get("data-bytes")) for e in _by_class(root, "limit")] == [24 * GiB]


@pytest.mark.parametrize(("argv", "option", "call"), [
    (["--kind", "context", "-c", "3000"], "ctx_size", lambda x: llmsize.infer(MODEL, ctx_size=x)),
    (["--kind", "batch", "-c", "2048", "--engine", "llamacpp"], "batch",
     lambda b: llmsize.infer(MODEL, ctx_size=2048, engine="llamacpp", batch=b)),
    (["--kind", "context", "--task", "train", "--zero", "3", "--dp", "8"], "seq",
     lambda s: llmsize.train(MODEL, seq=s, zero=3, dp=8)),
])
def test_curve_points_are_the_api_at_each_x(tmp_path, argv, option, call):
    out = tmp_path / "c.svg"
    assert main(["plot", MODEL, *argv, "-o", str(out)]) == 0
    points = [(int(e.get("data-x")), int(e.get("data-bytes"))) for e in _by_class(_svg(out), "point")]
    assert len(points) >= 4
    if option == "ctx_size":
        assert 3000 in [x for x, _ in points]  # the context asked for is on the axis
    for x, value in points:
        assert value == call(x).total_bytes, (option, x)
    areas = {e.get("data-term"): e.get("data-values").split(" ") for e in _by_class(_svg(out), "area")}
    x, _ = points[0]
    first = call(x).to_dict()["breakdown"]
    assert {term: int(values[0]) for term, values in areas.items()} == {k: first.get(k, 0) for k in areas}
    assert {k for k, v in first.items() if v} <= set(areas)


def test_gpus_chart_is_the_api_on_each_catalog_gpu(tmp_path):
    from llmsize.hardware import gpus

    out = tmp_path / "g.svg"
    assert main(["plot", MODEL, "--kind", "gpus", "-c", "8192", "-o", str(out)]) == 0
    root = _svg(out)
    rows = [e for e in root.iter() if e.get("class") == "row"]
    assert len(rows) == len(gpus())
    for g, row in zip(gpus(), rows, strict=True):
        truth = llmsize.infer(MODEL, ctx_size=8192, gpu=g.key)
        assert row.get("data-total") == str(truth.total_bytes), g.key
        limit = next(e for e in row.iter() if e.get("class") == "limit")
        assert int(limit.get("data-bytes")) == g.usable_bytes, g.key  # hf: the catalog's usable memory


def test_plot_json_and_stdout(capsys):
    assert main(["plot", MODEL, "--kind", "batch", "--json"]) == 0
    import json

    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "batch" and doc["xs"][:3] == [1, 2, 4]
    assert doc["totals"][0] == llmsize.infer(MODEL, batch=1).total_bytes


@pytest.mark.parametrize(("argv", "words"), [
    (["--kind", "throughput"], "give gpu"),
    (["--kind", "throughput", "--gpu", "h100-sxm", "--engine", "llamacpp"], "one sequence at a time"),
    (["--kind", "throughput", "--gpu", "h100-sxm", "--task", "train"], "a serving chart"),
    (["-o", "x.png"], "writes SVG"),
    (["--batch", "0"], "batch 0 must be positive"),
    (["--task", "finetune"], "give lora_rank or qlora"),
])
def test_missing_data_and_bad_flags_are_one_line(capsys, argv, words):
    assert main(["plot", MODEL, *argv]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1


def test_text_is_escaped():
    fig = Figure("breakdown", "<script>alert(1)</script>", rows=(Row("a&b", (Bar("weights", 10, 0.5),)),))
    svg = render(fig)
    ET.fromstring(svg)
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_missing_points_stay_missing():
    fig = Figure("context", "t", "context", (1, 2, 4), (Series("weights", (5, None, 7)),))
    root = ET.fromstring(render(fig))
    assert [e.get("data-x") for e in _by_class(root, "point")] == ["1", "4"]
    assert fig.totals() == (5, None, 7)


def test_throughput_chart_is_the_apis_speed_with_the_knee(tmp_path, capsys):
    """The curve's points are ``infer --gpu --concurrency B`` at each batch (the API asked again,
    independently of the curve), up to what vLLM's KV pool holds; the knee is the critical batch
    F·η_f·(bytes per weight) / (2·BW·η_bw) from the catalog and efficiency records read here."""
    from llmsize.hardware import gpu
    from llmsize.perf.efficiency import efficiency

    out = tmp_path / "t.svg"
    argv = ["plot", MODEL, "--kind", "throughput", "--gpu", "h100-sxm", "--engine", "vllm",
            "--input-len", "1024", "--output-len", "256", "-o", str(out)]
    assert main(argv) == 0
    root = ET.fromstring(out.read_text())
    points = [(int(e.get("data-x")), float(e.get("data-value"))) for e in _by_class(root, "point")]
    rates = points[: len(points) // 2]
    cap = llmsize.infer(MODEL, gpu="h100-sxm", engine="vllm", input_len=1024, output_len=256,
                        concurrency=2**20).performance.setting["batch"]
    assert rates[-1][0] == cap and [b for b, _ in rates[:-1]] == [2**i for i in range(len(rates) - 1)]
    for b, v in rates[::3]:
        p = llmsize.infer(MODEL, gpu="h100-sxm", engine="vllm", input_len=1024, output_len=256, concurrency=b)
        assert v == pytest.approx(p.performance["throughput_tokens_per_s"], rel=1e-5)
    g, e = gpu("h100-sxm"), efficiency("vllm", "h100-sxm")
    knee = g.peak_tflops("bf16") * 1e12 * e.decode_mfu * 2 / (2 * g.bandwidth_bytes_per_s * e.bandwidth)
    marks = _by_class(root, "knee")
    assert len(marks) == 1 and float(marks[0].get("data-x")) == pytest.approx(knee, rel=1e-3)
    caption = " ".join(t.text or "" for t in _by_class(root, "caption"))
    assert "band:" in caption
    assert main(argv[:-2] + ["--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "throughput" and doc["xs"][-1] == cap
    assert doc["marks"][0]["x"] == pytest.approx(knee)
