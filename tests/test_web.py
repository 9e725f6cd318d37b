"""``llmsize serve``'s JSON API through FastAPI's TestClient: every endpoint, and bad input.

The truth for each answer is the Python API called directly (the page must be a view of it,
never a second implementation) and the JSON schema; bad input must be a 4xx with one line,
never a 500 or a traceback.
"""

from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("fastapi", reason="the web extra (fastapi) is not installed")
pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx")

import jsonschema  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

import llmsize  # noqa: E402
from llmsize import schemas  # noqa: E402
from llmsize.web.app import MAX_BODY_BYTES, create_app  # noqa: E402

MODEL = "llama-3.1-8b"
VISION = "llama-3.2-90b-vision-instruct"
TINY = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 256,
        "intermediate_size": 688, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "vocab_size": 1000, "max_position_embeddings": 2048, "tie_word_embeddings": False}


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(), base_url="http://127.0.0.1")


def _valid(doc: dict, command: str) -> None:
    jsonschema.validate(doc, schemas.command_schema(command))


@pytest.mark.parametrize(("endpoint", "body", "truth"), [
    ("params", {"source": MODEL}, lambda: llmsize.params(MODEL)),
    ("params", {"hidden_size": 512, "num_layers": 12, "num_heads": 8, "vocab_size": 50000},
     lambda: llmsize.params(hidden_size=512, num_layers=12, num_heads=8, vocab_size=50000)),
    ("infer", {"source": MODEL, "ctx_size": 8192, "engine": "vllm", "gpu_mem": "80GiB"},
     lambda: llmsize.infer(MODEL, ctx_size=8192, engine="vllm", gpu_mem="80GiB")),
    ("infer", {"source": MODEL, "ctx_size": 4096, "engine": "llamacpp", "quant": "Q4_K_M"},
     lambda: llmsize.infer(MODEL, ctx_size=4096, engine="llamacpp", quant="Q4_K_M")),
    ("train", {"source": MODEL, "seq": 2048, "zero": 3, "dp": 8},
     lambda: llmsize.train(MODEL, seq=2048, zero=3, dp=8)),
    ("infer", {"source": TINY, "ctx_size": 512}, lambda: llmsize.infer(dict(TINY), ctx_size=512)),
    # speed on a GPU (the performance section) passes through as the API computes it
    ("infer", {"source": MODEL, "engine": "vllm", "gpu": "h100", "input_len": 1000, "output_len": 500,
               "concurrency": 32, "price": ["h100=2.5"], "mfu": 0.5},
     lambda: llmsize.infer(MODEL, engine="vllm", gpu="h100", input_len=1000, output_len=500, concurrency=32,
                           price="h100=2.5", mfu=0.5)),
    ("train", {"source": MODEL, "gpu": "h100:8", "tokens": "1e12", "price": 3},
     lambda: llmsize.train(MODEL, gpu="h100:8", tokens=1e12, price=3)),
    # images per sequence: Llama 3.2 Vision's image KV, and what a step with images trains
    ("infer", {"source": VISION, "ctx_size": 4096, "images": 2},
     lambda: llmsize.infer(VISION, ctx_size=4096, images=2)),
    ("train", {"source": VISION, "seq": 1024, "images": 1},
     lambda: llmsize.train(VISION, seq=1024, images=1)),
])
def test_mirrors_return_the_api_json(client, endpoint, body, truth):
    r = client.post(f"/api/{endpoint}", json=body)
    assert r.status_code == 200, r.text
    assert r.json() == truth().to_dict()
    _valid(r.json(), endpoint)


def test_catalog_search_finds_aliases(client):
    by_repo = client.get("/api/catalog", params={"q": "Llama-3.1-8B"}).json()["models"]
    assert MODEL in [m["name"] for m in by_repo]
    row = next(m for m in by_repo if m["name"] == MODEL)
    assert "meta-llama/Llama-3.1-8B" in row["aliases"]
    by_type = client.get("/api/catalog", params={"q": "qwen3_moe"}).json()["models"]
    assert by_type and all(m["model_type"] == "qwen3_moe" for m in by_type)
    from llmsize.sources import catalog

    assert len(client.get("/api/catalog").json()["models"]) == len(catalog.entries())


def test_options_lists_every_choice(client):
    from llmsize import options as o

    doc = client.get("/api/options").json()
    assert doc["engines"] == list(o.ENGINES) and doc["optimizers"] == list(o.OPTIMIZERS)
    assert doc["defaults"]["engine"] == "hf" and doc["defaults"]["recipe"] == "amp"
    from llmsize.hardware import gpus

    assert [g["name"] for g in doc["gpus"]] == [g.key for g in gpus()]
    assert doc["default_gpu"] in [g["name"] for g in doc["gpus"]]


def test_view_is_what_the_api_says(client):
    body = {"task": "serve", "source": MODEL, "options": {"ctx_size": 32768, "gpu_mem": "24GiB"}}
    view = client.post("/api/view", json=body).json()
    truth = llmsize.infer(MODEL, ctx_size=32768, gpu_mem="24GiB")
    assert view["result"] == truth.to_dict()
    assert view["verdict"]["fits"] == (truth.total_bytes <= 24 * 2**30)
    assert view["command"] == "llmsize infer llama-3.1-8b --ctx-size 32768 --gpu-mem 24GiB --json"
    bar = r'class="bar"[^>]*data-term="(\w+)" data-bytes="(\d+)"'
    bars = dict(re.findall(bar, view["charts"]["breakdown"]))
    assert {k: int(v) for k, v in bars.items()} == truth.to_dict()["breakdown"]
    points = re.findall(r'class="point"[^>]*data-x="(\d+)" data-bytes="(\d+)"', view["charts"]["context"])
    assert points
    for x, value in points[:3]:
        assert int(value) == llmsize.infer(MODEL, ctx_size=int(x), gpu_mem="24GiB").total_bytes
    table = {r["gpu"]: r for r in view["fit_table"]}
    for key in ("h100-sxm", "l4", "rtx-4090"):
        judged = llmsize.infer(MODEL, ctx_size=32768, gpu=key).to_dict()["verdict"]
        assert table[key]["fits"] == judged["fits"] and table[key]["need_bytes"] == judged["need_bytes"]
    kv = next(r for r in view["explain"] if r["term"] == "kv_cache")
    assert kv["numbers"].endswith(f"= {truth.part('kv_cache'):,} B") and kv["error_bar"] == "exact"


def test_view_trains_and_finetunes(client):
    options = {"lora_rank": 16, "seq": 1024, "gpu_mem": "24GiB"}
    view = client.post("/api/view", json={"task": "finetune", "source": MODEL, "options": options}).json()
    assert view["result"] == llmsize.train(MODEL, lora_rank=16, seq=1024, gpu_mem="24GiB").to_dict()
    assert view["command"] == "llmsize train llama-3.1-8b --lora-rank 16 --seq 1024 --gpu-mem 24GiB --json"
    assert "micro-batch" in view["charts"]["batch"]


def test_plot_endpoint_is_an_svg(client):
    body = {"task": "serve", "source": MODEL, "options": {"ctx_size": 4096}}
    r = client.post("/api/plot/context", json=body)
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert r.text.startswith("<svg") and 'data-x="4096"' in r.text


def test_the_page_and_its_files(client):
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert "http://" not in page.text.replace("http://www.w3.org", "") and "https://" not in page.text
    for name in ("app.js", "app.css"):
        r = client.get(f"/static/{name}")
        assert r.status_code == 200 and "http" not in r.text.replace("http://www.w3.org", "")
    assert client.get("/openapi.json").json()["paths"].keys() >= {"/api/infer", "/api/view", "/api/catalog"}
    assert client.get("/docs").status_code == 404  # Swagger UI would load scripts from a CDN


BAD = [  # (method, path, body or params, words the one-line message must hold)
    ("post", "/api/infer", {"source": MODEL, "batch": 0}, "batch 0 must be positive"),
    ("post", "/api/infer", {"source": MODEL, "engine": "tgi"}, "engine 'tgi' is not one of"),
    ("post", "/api/infer", {"source": MODEL, "gpu_mem": "lots"}, "gpu_mem 'lots' is not a size"),
    ("post", "/api/infer", {"source": MODEL, "gpu_mem": "infGiB"}, "is not a size"),
    ("post", "/api/infer", {"source": MODEL, "ctx_size": 1.5}, "ctx_size 1.5 is not an integer"),
    ("post", "/api/infer", {"source": MODEL, "ctx_size": 2**60}, "larger than 2^53"),
    ("post", "/api/infer", {"source": MODEL, "colour": "red"}, "unknown option 'colour'"),
    ("post", "/api/infer", {"source": "/etc/passwd"}, "/etc/passwd"),
    ("post", "/api/infer", {"source": "../../etc"}, "not a file, directory or catalog model"),
    ("post", "/api/infer", {"source": "someone/some-model"}, "Hub ids are off"),
    ("post", "/api/infer", {"source": 12}, "source: give a catalog name"),
    ("post", "/api/infer", {}, "source: give a catalog name"),
    ("post", "/api/infer", {"source": {"model_type": "nope"}}, "nope"),
    ("post", "/api/infer", {"source": {"model_type": "llama", "hidden_size": "wide"}}, "config.json"),
    ("post", "/api/infer", [1, 2], "body must be a JSON object"),
    ("post", "/api/infer", {"source": VISION, "images": -1}, "images -1 must be an integer ≥ 0"),
    ("post", "/api/infer", {"source": VISION, "images": 1.5}, "images 1.5 is not an integer"),
    ("post", "/api/infer", {"source": MODEL, "images": 1}, "has no cross-attention layers"),
    ("post", "/api/train", {"source": MODEL, "images": 1}, "has no vision tower"),
    ("post", "/api/train", {"source": MODEL, "zero": 7}, "zero 7 is not one of"),
    ("post", "/api/train", {"source": MODEL, "lora_targets": "q,v"}, "needs lora_rank or qlora"),
    ("post", "/api/params", {"hidden_size": 512}, "give a SOURCE, or the hyperparameters"),
    ("post", "/api/view", {"task": "dance", "source": MODEL}, "task 'dance' is not one of"),
    ("post", "/api/view", {"task": "finetune", "source": MODEL}, "give lora_rank or qlora"),
    ("post", "/api/view", {"task": "serve", "source": MODEL, "options": []}, "options must be a JSON object"),
    ("post", "/api/plot/throughput", {"task": "serve", "source": MODEL}, "give gpu"),
    ("post", "/api/plot/pie", {"task": "serve", "source": MODEL}, "kind 'pie' is not one of"),
    ("get", "/api/catalog", {"q": "x" * 101}, "longer than 100 characters"),
    ("get", "/static/app.py", None, "no such file"),
    ("get", "/static/..%2Fapp.py", None, ""),
]


@pytest.mark.parametrize(("method", "path", "body", "words"), BAD,
                         ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_is_a_4xx_with_one_line(client, method, path, body, words):
    if method == "get":
        r = client.get(path, params=body)
    else:
        r = client.post(path, json=body)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    message = r.json()["error"]
    assert words in message and "\n" not in message and "Traceback" not in message


def test_body_not_json_and_too_large(client):
    r = client.post("/api/infer", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json() == {"error": "body is not JSON"}
    deep = b"[" * 100_000 + b"]" * 100_000
    assert client.post("/api/infer", content=deep).status_code == 400
    big = json.dumps({"source": {"model_type": "llama", "pad": "x" * MAX_BODY_BYTES}}).encode()
    r = client.post("/api/infer", content=big)
    assert r.status_code == 413 and "1 MiB" in r.json()["error"]

    def chunks():  # no Content-Length: the body is counted as it streams in
        for _ in range(20):
            yield b"x" * 65536

    assert client.post("/api/infer", content=chunks()).status_code == 413


def test_a_pasted_config_of_almost_1_mib_is_taken(client):
    config = {**TINY, "notes": "x" * (MAX_BODY_BYTES - 4096)}
    assert client.post("/api/infer", json={"source": config, "ctx_size": 128}).status_code == 200


def test_other_hosts_and_origins(client):
    assert TestClient(create_app()).get("/").status_code == 400  # Host: testserver (DNS rebinding)
    r = client.post("/api/infer", json={"source": MODEL}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    pre = client.options("/api/infer", headers={"Origin": "https://evil.example",
                                                "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in pre.headers


def test_hub_ids_need_allow_hub(monkeypatch):
    from llmsize.sources import hub

    asked = []

    def fake_open_hub(repo, revision=None):
        asked.append(repo)
        return dict(TINY), None, f"https://huggingface.co/{repo}"

    monkeypatch.setattr(hub, "open_hub", fake_open_hub)
    closed = TestClient(create_app(), base_url="http://127.0.0.1")
    assert closed.post("/api/infer", json={"source": "org/tiny"}).status_code == 400 and not asked
    opened = TestClient(create_app(allow_hub=True), base_url="http://127.0.0.1")
    r = opened.post("/api/infer", json={"source": "org/tiny", "ctx_size": 64})
    assert r.status_code == 200 and r.json()["model"] == "org/tiny" and asked == ["org/tiny"]
    assert opened.post("/api/infer", json={"source": "../tiny"}).status_code == 400  # never a path


def test_the_core_imports_no_web_framework():
    import subprocess
    import sys

    code = ("import sys, llmsize; llmsize.infer('llama-3.1-8b'); from llmsize import charts, svg; "
            "assert not {'fastapi', 'uvicorn', 'starlette'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(("task", "options"), [
    ("serve", {"ctx_size": 16384, "engine": "vllm", "gpu_mem": "80GiB", "batch": 1, "dtype": "bf16"}),
    ("serve", {"ctx_size": 4096, "engine": "llamacpp", "quant": "Q4_K_M", "kv_dtype": "q8_0"}),
    ("finetune", {"qlora": True, "seq": 2048, "micro_batch": 2, "recompute": "full", "gpu_mem": "24GiB"}),
    ("train", {"seq": 4096, "zero": 3, "dp": 8, "optimizer": "adam-8bit"}),
])
def test_the_command_line_prints_the_same_json(client, capsys, task, options):
    import shlex

    from llmsize.cli import main

    view = client.post("/api/view", json={"task": task, "source": MODEL, "options": options}).json()
    words = shlex.split(view["command"])
    assert words[0] == "llmsize"
    capsys.readouterr()
    assert main(words[1:]) == 0
    assert json.loads(capsys.readouterr().out) == view["result"]


def test_view_has_the_throughput_curve_of_the_api(client):
    options = {"ctx_size": 4096, "engine": "vllm", "gpu": "h100-sxm", "input_len": 1024, "output_len": 128}
    body = {"task": "serve", "source": MODEL, "options": options}
    view = client.post("/api/view", json=body).json()
    fig = view["figures"]["throughput"]
    rate, tpot = fig["lines"]
    assert fig["kind"] == "throughput" and len(rate["values"]) == len(fig["xs"]) and fig["marks"]
    for x, v, t in list(zip(fig["xs"], rate["values"], tpot["values"], strict=True))[:2]:
        p = llmsize.infer(MODEL, ctx_size=4096, engine="vllm", gpu="h100-sxm", input_len=1024, output_len=128,
                          concurrency=x).performance
        assert v == pytest.approx(p["throughput_tokens_per_s"], rel=1e-9)
        assert t == pytest.approx(1e3 * p["tpot_s"], rel=1e-9)
    assert 'class="knee"' in view["charts"]["throughput"]
    r = client.post("/api/plot/throughput", json=body)
    assert r.status_code == 200 and 'class="knee"' in r.text
    bare = {"task": "serve", "source": MODEL, "options": {"gpu_mem": "24GiB"}}
    no_gpu = client.post("/api/view", json=bare)
    assert "throughput" not in no_gpu.json()["figures"]
