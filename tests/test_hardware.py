"""The GPU catalog: every record sourced and self-consistent, names resolve, custom specs parse.

The spot checks compare against the sourced table in planning-references.md §3.1 (collected
2026-12-03 from vendor datasheets, aiconfigurator, torchtitan and the Scaling Book), not against
our own JSON: a figure typed wrong in gpus.json fails here. Tolerance: exact to the digits the
table prints.
"""

from __future__ import annotations

import copy
import fnmatch
import json
from pathlib import Path

import pytest

from llmsize.errors import LlmsizeError
from llmsize.hardware import Gpu, gpu, gpus, parse_gpu_spec, price, price_overrides, prices
from llmsize.hardware.catalog import CONFIDENCE, GPUS_JSON, GpuError, from_record, normalize
from llmsize.units import GB, GiB, MiB

ROOT = Path(__file__).resolve().parents[1]
DATA = json.loads(Path(GPUS_JSON).read_text())
ALL = gpus()
IDS = [g.key for g in ALL]

ISSUE_LIST = ("h100-sxm", "h100-pcie", "h100-nvl", "h200", "h800", "b200", "b300", "gb200", "a100-sxm-40",
              "a100-sxm-80", "a100-pcie-40", "a100-pcie-80", "l40s", "l4", "a10g", "t4", "v100", "rtx-3090",
              "rtx-4090", "rtx-5090", "rtx-6000-ada", "a6000", "mi300x", "mi325x", "mi355x", "gaudi3",
              "tpu-v5e", "tpu-v5p", "tpu-v6e", "m2-ultra", "m3-max", "m4-max")


def test_at_least_35_and_the_issue_list():
    assert len(ALL) >= 35
    for name in ISSUE_LIST:
        gpu(name)  # raises if missing


@pytest.mark.parametrize("g", ALL, ids=IDS)
def test_every_field_sourced(g: Gpu):
    fields = ["memory", "usable", "bandwidth", "scale_up_domain", "aliases",
              *(f"dense_tflops.{d}" for d in g.dense_tflops)]
    fields += [f for f, v in (("scale_up", g.scale_up_bytes_per_s), ("host_link", g.host_link_bytes_per_s),
                               ("sparse_tflops", g.sparse_tflops)) if v]
    for f in fields:
        s = g.source(f)
        assert s is not None, f"{g.key}.{f} has no source"
        assert s.url.startswith("https://") and s.confidence in CONFIDENCE
        assert len(s.date) == 10 and s.date[4] == "-", s.date


def _record(key: str) -> dict:
    return copy.deepcopy(next(r for r in DATA["gpus"] if r["key"] == key))


def test_a_record_without_a_source_is_rejected():
    rec = _record("l40s")
    del rec["sources"]["*"]  # memory, bandwidth, dense_tflops now resolve to nothing
    with pytest.raises(GpuError, match="l40s: field memory has no source"):
        from_record(rec, DATA["references"])
    rec = _record("h100-sxm")
    rec["sources"]["usable"] = ["no-such-ref", "measured"]
    with pytest.raises(GpuError, match="unknown reference"):
        from_record(rec, DATA["references"])
    rec = _record("h100-sxm")
    rec["sources"]["usable"] = ["nv-h100", "trust-me"]
    with pytest.raises(GpuError, match="confidence"):
        from_record(rec, DATA["references"])


@pytest.mark.parametrize("g", ALL, ids=IDS)
def test_consistency(g: Gpu):
    assert 0 < g.usable_bytes <= g.memory_bytes
    assert g.bandwidth_bytes_per_s > 0 and g.scale_up_domain >= 1
    assert (g.scale_up_bytes_per_s is None) == (g.scale_up_domain == 1)
    for dtype, sparse in g.sparse_tflops.items():
        if dtype in g.dense_tflops:  # a datasheet's asterisked 2:4 figure is twice the dense one
            assert g.dense_tflops[dtype] <= sparse / 2 + 0.5, (g.key, dtype)
    # tensor rates rise as the dtype narrows (fp32 is the shader rate, below tf32)
    d = g.dense_tflops
    for wide, narrow in (("tf32", "bf16"), ("bf16", "fp8"), ("fp8", "fp4")):
        if wide in d and narrow in d:
            assert d[wide] <= d[narrow], (g.key, wide, narrow)


def test_aliases_unique_across_records():
    seen: dict[str, str] = {}
    for g in ALL:
        for name in {normalize(n) for n in (g.key, g.name, *g.aliases)}:
            assert name not in seen, f"{name!r} names both {seen[name]} and {g.key}"
            seen[name] = g.key


@pytest.mark.parametrize("name, key", [
    ("NVIDIA H100 80GB HBM3", "h100-sxm"), ("nvidia h100 80gb hbm3", "h100-sxm"), ("H100", "h100-sxm"),
    ("NVIDIA A100-SXM4-80GB", "a100-sxm-80"), ("NVIDIA A100-SXM4-40GB", "a100-sxm-40"), ("Tesla T4", "t4"),
    ("NVIDIA GeForce RTX 4090", "rtx-4090"), ("NVIDIA L40S", "l40s"), ("NVIDIA H200", "h200"),
    ("h100_sxm", "h100-sxm"), ("MI300X", "mi300x"), ("Tesla V100-SXM2-32GB", "v100-32"),
])
def test_lookup(name: str, key: str):
    assert gpu(name).key == key


def test_unknown_gpu_suggests():
    with pytest.raises(LlmsizeError, match=r"'h10' is not in the catalog; did you mean h100"):
        gpu("h10")
    with pytest.raises(GpuError, match="did you mean"):
        gpu("rtx 4080")


def test_parse_gpu_spec():
    g, n = parse_gpu_spec("h100-sxm:8")
    assert (g.key, n) == ("h100-sxm", 8)
    assert parse_gpu_spec("l4")[1] == 1
    g, n = parse_gpu_spec("custom:mem=48GiB,bw=864GB/s,bf16=362TF:4")
    assert (g.memory_bytes, g.bandwidth_bytes_per_s, g.dense_tflops["bf16"]) == (48 * GiB, 864 * GB, 362.0)
    assert n == 4
    for bad in ("h100:0", "h100:x", "h100:-1", ""):
        with pytest.raises(GpuError):
            parse_gpu_spec(bad)


def test_custom_gpu():
    g = gpu("custom:mem=24GB,usable=22GiB,bw=1TB/s,fp16=100,fp8=200TFLOPS,link=450GB/s,name=my card")
    assert g.memory_bytes == 24 * GB and g.usable_bytes == 22 * GiB and g.bandwidth_bytes_per_s == 10**12
    assert dict(g.dense_tflops) == {"fp16": 100.0, "fp8": 200.0} and g.scale_up_domain == 8
    assert g.name == "my card" and g.source("memory") is not None


@pytest.mark.parametrize("spec, says", [
    ("custom:bw=864GB/s", "needs mem=SIZE"),
    ("custom:mem=lots", "mem='lots' is not a size"),
    ("custom:mem=48GiB,bw=fast", "bw='fast' is not a rate"),
    ("custom:mem=48GiB,bf16=-3", "not a positive TFLOPS"),
    ("custom:mem=48GiB,color=red", "unknown key 'color'"),
    ("custom:mem=48GiB,usable=50GiB", "more than mem"),
    ("custom:mem=48GiB,bf16", "is not KEY=VALUE"),
])
def test_bad_custom_specs_one_line(spec: str, says: str):
    with pytest.raises(GpuError) as e:
        gpu(spec)
    assert says in str(e.value) and "\n" not in str(e.value) and spec in str(e.value)


@pytest.mark.parametrize("key, field, expected", [
    # planning-references.md §3.1, dense figures
    ("h100-sxm", "bf16", 989.4), ("h100-sxm", "fp8", 1978.9), ("h100-pcie", "bf16", 756.5),
    ("h100-nvl", "bf16", 835.5), ("b200", "bf16", 2250), ("b200", "fp4", 9000), ("gb200", "bf16", 2500),
    ("b300", "fp4", 14000), ("gb300", "fp4", 15000), ("a100-sxm-80", "bf16", 312), ("l40s", "bf16", 362.05),
    ("l40s", "fp8", 733), ("l4", "bf16", 121), ("l4", "fp8", 242.5), ("a10", "bf16", 125),
    ("t4", "fp16", 65), ("v100-32", "fp16", 125), ("rtx-3090", "bf16", 71), ("rtx-4090", "bf16", 165.2),
    ("rtx-5090", "bf16", 209.5), ("rtx-a6000", "bf16", 154.8), ("mi300x", "bf16", 1307.4),
    ("mi300x", "fp8", 2614.9), ("mi355x", "bf16", 2500), ("gaudi3", "bf16", 1835), ("tpu-v5e", "bf16", 197),
    ("tpu-v5p", "bf16", 459), ("tpu-v6e", "bf16", 918),
])
def test_dense_tflops_match_the_reference_table(key: str, field: str, expected: float):
    assert gpu(key).dense_tflops[field] == pytest.approx(expected, abs=0.5)


@pytest.mark.parametrize("key, tb_per_s", [
    ("h100-sxm", 3.35), ("h100-pcie", 2.0), ("h200", 4.8), ("b200", 8), ("a100-sxm-80", 2.039),
    ("a100-sxm-40", 1.555), ("a100-pcie-80", 1.935), ("l40s", 0.864), ("l4", 0.3), ("t4", 0.32),
    ("v100-32", 0.9), ("rtx-3090", 0.936), ("rtx-4090", 1.008), ("rtx-5090", 1.792), ("rtx-a6000", 0.768),
    ("mi300x", 5.3), ("mi325x", 6.0), ("m2-ultra", 0.8), ("m3-max", 0.4), ("m4-max", 0.546),
])
def test_bandwidth_matches_the_reference_table(key: str, tb_per_s: float):
    # §3.2: LLM-Viewer's 3.072 TB/s for the H100 SXM is the trap this guards against
    assert gpu(key).bandwidth_bytes_per_s == round(tb_per_s * 10**12)


def test_memory_units():
    h100 = gpu("h100")
    # "80GB" HBM is 80 GiB: nvidia-smi's 81,559 MiB could not fit in 80e9 bytes
    assert h100.memory_bytes == 80 * GiB > 81_559 * MiB > 80 * GB
    assert h100.usable_bytes == round(79.18 * GiB)  # torch.cuda.mem_get_info total (llm-d, reference §2.9)
    assert gpu("gb200").usable_bytes == 189_471 * MiB  # nvidia-smi, §3.1
    assert gpu("l40s").usable_bytes < 46_068 * MiB < gpu("l40s").memory_bytes  # ECC takes 1/16
    assert gpu("m3-max").usable_bytes == 96 * GiB  # 3/4 of 128 GiB unified memory


def test_no_bf16_tensor_cores_where_there_are_none():
    for key in ("t4", "v100-32", "v100-16"):
        assert "bf16" not in gpu(key).dense_tflops
        assert gpu(key).peak_tflops("bf16") == gpu(key).dense_tflops["fp16"]  # runs bf16 work as fp16


def test_prices():
    for p in prices():
        assert gpu(p.gpu).key == p.gpu and p.usd_per_hour > 0 and p.url.startswith("https://")
    assert price("h100-sxm") is not None and price("rtx-3090") is None
    given = price_overrides(["h100=2.5"])
    assert price("h100-sxm", given).usd_per_hour == 2.5 and given["h100-sxm"].provider == "given by the user"
    with pytest.raises(GpuError, match="expected GPU=USD"):
        price_overrides(["h100"])


def test_package_data_ships_the_json():
    """A non-editable install ships what pyproject's package-data lists: every JSON file under
    src/llmsize must match one of its globs."""
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    globs = setuptools["package-data"]["llmsize"]
    pkg = ROOT / "src" / "llmsize"
    for path in pkg.rglob("*.json"):
        rel = path.relative_to(pkg).as_posix()
        assert any(fnmatch.fnmatch(rel, g) for g in globs), f"{rel} is not in package-data"


def test_gpus_command(capsys):
    from cli_run import run

    code, out, err = run(capsys, "gpus", "apple")
    assert code == 0 and out.startswith("llmsize gpus (4 accelerators") and "m4-max" in out
    code, out, err = run(capsys, "gpus", "h100", "--price", "h100=2.5")
    assert code == 0 and "2.50 (" in out
    code, out, err = run(capsys, "gpus", "zzz")
    assert code == 2 and err.count("\n") == 1 and "no GPU matches 'zzz'" in err
    code, out, err = run(capsys, "gpus", "--price", "h100")
    assert code == 2 and "expected GPU=USD" in err
