"""The page in a real browser: Debian's chromium driven by Playwright, against a live server.

One server and one browser for the module (a new context per test). Every request that leaves
127.0.0.1 is aborted and recorded, and each test asserts none was attempted; every console
error fails the test. The truth for the numbers on the page is the Python API and the CLI.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import threading
import time
from urllib.parse import urlparse

import pytest

CHROMIUM = "/usr/bin/chromium"
pytest.importorskip("fastapi", reason="the web extra (fastapi, uvicorn) is not installed")
pytest.importorskip("uvicorn", reason="the web extra (fastapi, uvicorn) is not installed")
pytest.importorskip("playwright", reason="playwright (the test extra) is not installed")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is absent (apt-get install -y chromium; .ci/run installs it)",
                allow_module_level=True)

import uvicorn  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

import llmsize  # noqa: E402
from llmsize.cli import main  # noqa: E402
from llmsize.web.app import create_app  # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
MODEL = "llama-3.1-8b"


@pytest.fixture(scope="module")
def server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Watched:
    """A page whose console errors and off-host requests are recorded."""

    def __init__(self, browser, server):
        self.context = browser.new_context(viewport={"width": 1200, "height": 1000})
        self.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _route(self, route):
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def open(self, url):
        self.page.goto(url)
        self.page.wait_for_selector("body[data-ready=true]")
        return self.page

    def clean(self, expected: str = "\0"):
        """No console error (but ``expected``: chromium logs a 4xx the test asked for) and no request
        that left 127.0.0.1."""
        assert self.outside == [], self.outside
        assert [e for e in self.errors if expected not in e] == [], self.errors


@pytest.fixture
def watched(browser, server):
    w = Watched(browser, server)
    yield w
    w.context.close()


def _svg_values(page, chart: str, cls: str, attrs: tuple[str, ...]) -> list[tuple[str, ...]]:
    script = f"els => els.map(e => {json.dumps(list(attrs))}.map(a => e.getAttribute(a)))"
    return page.eval_on_selector_all(f"#chart-{chart} .{cls}", script)


def _wait_for_verdict_change(page, before: str) -> None:
    page.wait_for_function("t => document.getElementById('verdict').textContent !== t", arg=before)


def test_permalink_load_shows_the_api_numbers(watched, server):
    page = watched.open(f"{server}/?task=serve&model={MODEL}&ctx_size=32768&gpu_mem=24GiB")
    truth = llmsize.infer(MODEL, ctx_size=32768, gpu="h100-sxm", gpu_mem="24GiB")  # the picker's default
    judged = truth.to_dict()["verdict"]  # the API's fit verdict against the GPU
    assert page.get_attribute("#verdict", "data-fits") == str(judged["fits"]).lower() == "true"
    assert judged["reason"] in page.inner_text("#verdict")
    assert page.get_attribute("#verdict", "data-total-bytes") == str(truth.total_bytes)
    bars = dict(_svg_values(page, "breakdown", "bar", ("data-term", "data-bytes")))
    assert {k: int(v) for k, v in bars.items()} == truth.to_dict()["breakdown"]
    for x, value in _svg_values(page, "context", "point", ("data-x", "data-bytes")):
        assert int(value) == llmsize.infer(MODEL, ctx_size=int(x), gpu_mem="24GiB").total_bytes
    page.click("#fits summary")
    for key in ("h100-sxm", "l4"):
        fits = llmsize.infer(MODEL, ctx_size=32768, gpu=key).to_dict()["verdict"]["fits"]  # its own memory
        assert page.get_attribute(f"#fits tr[data-gpu={key}]", "data-fits") == str(fits).lower()
    page.click("#fits summary")  # closed again: the screenshot shows the panel below
    page.click("#explain summary")
    assert "1,073,741,824" not in page.inner_text("#explain")  # 32K context: four times that
    assert f"{truth.part('kv_cache'):,} B" in page.inner_text("#explain")
    if os.environ.get("LLMSIZE_SCREENSHOT"):
        page.screenshot(path=os.environ["LLMSIZE_SCREENSHOT"], full_page=True)
    watched.clean()


def test_form_update_permalink_and_command(watched, server, capsys):
    page = watched.open(f"{server}/")
    before = page.inner_text("#verdict")
    page.fill("#model", "qwen3-8b")
    page.fill("#ctx_size", "16384")
    page.select_option("#engine", "vllm")
    page.fill("#gpu_mem", "80GiB")
    page.focus("#gpu_mem")
    page.keyboard.press("Enter")  # submits the form from the keyboard
    _wait_for_verdict_change(page, before)
    truth = llmsize.infer("qwen3-8b", ctx_size=16384, engine="vllm", gpu="h100-sxm", gpu_mem="80GiB")
    bars = dict(_svg_values(page, "breakdown", "bar", ("data-term", "data-bytes")))
    assert {k: int(v) for k, v in bars.items()} == truth.to_dict()["breakdown"]
    assert truth.to_dict()["verdict"]["reason"] in page.inner_text("#verdict")
    assert "max concurrency" in page.inner_text("#verdict")

    link = page.get_attribute("#permalink", "href")
    assert page.url.endswith(link)
    again = watched.context.new_page()
    again.goto(page.url)
    again.wait_for_selector("body[data-ready=true]")
    for field in ("#model", "#ctx_size", "#engine", "#gpu", "#gpu_mem"):
        assert again.input_value(field) == page.input_value(field), field
    assert again.inner_text("#verdict") == page.inner_text("#verdict")

    page.click("#copy")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.input_value("#command")
    words = shlex.split(copied)
    assert words[0] == "llmsize"
    capsys.readouterr()
    assert main(words[1:]) == 0
    assert json.loads(capsys.readouterr().out) == truth.to_dict()
    watched.clean()


TINY = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 256,
        "intermediate_size": 688, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "vocab_size": 1000, "max_position_embeddings": 2048}


def test_training_task_a_bad_value_and_a_pasted_config(watched, server):
    page = watched.open(f"{server}/")
    page.select_option("#task", "finetune")
    assert page.is_hidden("#ctx_size") and page.is_visible("#lora_rank")
    before = page.inner_text("#verdict")
    page.click("#submit")
    _wait_for_verdict_change(page, before)
    truth = llmsize.train(MODEL, lora_rank=16, seq=4096)
    assert page.get_attribute("#verdict", "data-total-bytes") == str(truth.total_bytes)
    page.fill("#micro_batch", "0")
    page.evaluate("document.getElementById('micro_batch').removeAttribute('min')")
    page.click("#submit")
    page.wait_for_selector("#error:not([hidden])")
    assert page.inner_text("#error") == "micro_batch 0 must be positive (an integer ≥ 1)"

    page.select_option("#task", "serve")
    page.check("#use-config")
    page.fill("#config", "{not json")
    page.click("#submit")
    page.wait_for_function("$ => document.getElementById('error').textContent.startsWith($)",
                           arg="config.json is not JSON")
    page.fill("#config", json.dumps(TINY))
    page.fill("#ctx_size", "1024")
    before = page.inner_text("#verdict")
    page.click("#submit")
    _wait_for_verdict_change(page, before)
    truth = llmsize.infer(dict(TINY), ctx_size=1024, gpu="h100-sxm")
    assert page.get_attribute("#verdict", "data-total-bytes") == str(truth.total_bytes)
    assert page.input_value("#command").startswith("llmsize infer config.json --ctx-size 1024")
    watched.clean(expected="status of 400 (Bad Request)")


def test_every_control_is_labelled_and_reachable_by_keyboard(watched, server):
    page = watched.open(f"{server}/")
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea, button')]
        .filter(e => !e.closest('[hidden]') && !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                     && !(e.tagName === 'BUTTON' && e.textContent.trim()))
        .map(e => e.id || e.outerHTML)""")
    assert unlabelled == []
    controls = set(page.evaluate("""() => [
        ...document.querySelectorAll('input, select, textarea, button, a[href]')]
        .filter(e => e.offsetParent !== null && !e.disabled).map(e => e.id)"""))
    reached = set()
    for _ in range(len(controls) + 10):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.id"))
    assert controls <= reached, controls - reached
    watched.clean()


def test_throughput_panel_shows_the_api_curve(watched, server):
    page = watched.open(f"{server}/?task=serve&model={MODEL}&ctx_size=4096&engine=vllm")
    page.wait_for_selector("#throughput:not([hidden]) #chart-throughput .knee")
    assert page.get_attribute("#throughput", "aria-label") == "Throughput against batch"
    points = _svg_values(page, "throughput", "point", ("data-x", "data-value"))
    rows = page.eval_on_selector_all("#throughput tbody tr", "trs => trs.map(t => t.cells[0].textContent)")
    assert rows == [x for x, _ in points[: len(points) // 2]]
    first = llmsize.infer(MODEL, ctx_size=4096, engine="vllm", gpu="h100-sxm", concurrency=1).performance
    assert float(points[0][1]) == pytest.approx(first["throughput_tokens_per_s"], rel=1e-5)
    assert "band:" in page.inner_text("#throughput-caption")
    watched.clean()
