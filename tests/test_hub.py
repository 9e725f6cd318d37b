"""Hub ids, offline: a stub Hub on 127.0.0.1 stands in for huggingface.co.

The stub answers what huggingface_hub 2.4 asks (``file_download.get_hf_file_metadata`` needs
``X-Repo-Commit`` and an ``ETag``; ``hf_hub_download`` needs ``Content-Length`` to check the
download). Like the real Hub, it serves small files itself and redirects ``.safetensors`` (LFS)
files to a CDN on another origin, putting ``X-Linked-Size``/``X-Linked-Etag`` on the redirect. The
CDN honours ``Range``. Both log every request, so the tests can show that no weights are fetched.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import constants
from safetensors.numpy import save_file

from llmsize.errors import LlmsizeError
from llmsize.sources.hub import open_hub
from llmsize.sources.safetensors import read_safetensors

COMMIT = "0123456789abcdef0123456789abcdef01234567"
REVISIONS = {"main", "v1.0", COMMIT}
# repo id → (HTTP status, X-Error-Code) the stub answers for every file of that repo
FAILING = {"org/private": (401, "RepoNotFound"), "org/gated": (403, "GatedRepo")}


def llama_cfg() -> dict:
    return {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
            "intermediate_size": 128, "vocab_size": 100}


@dataclass
class StubHub:
    """Repos on disk (``root/org/name/<files>``), a Hub and a CDN server, and their request log."""

    root: Path
    hub_url: str = ""
    cdn_url: str = ""
    log: list[tuple[str, str, str, str | None]] = field(default_factory=list)  # server, method, path, Range
    ignore_range: bool = False  # a CDN that answers 200 with the whole file
    tokens: list[tuple[str, str | None]] = field(default_factory=list)  # server, Authorization

    def add_repo(self, repo_id: str, files: dict[str, dict | dict[str, np.ndarray]]) -> Path:
        folder = self.root / repo_id
        folder.mkdir(parents=True)
        for name, content in files.items():
            if name.endswith(".safetensors"):
                save_file(content, str(folder / name), metadata={"format": "pt"})
            else:
                (folder / name).write_text(json.dumps(content))
        return folder

    def gets(self, suffix: str) -> list[tuple[str, str, str, str | None]]:
        return [e for e in self.log if e[1] == "GET" and e[2].endswith(suffix)]


def _handler(stub: StubHub, server: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def do_GET(self) -> None:
            self._answer(body=True)

        def _answer(self, *, body: bool) -> None:
            stub.log.append((server, self.command, self.path, self.headers.get("Range")))
            stub.tokens.append((server, self.headers.get("Authorization")))
            if server == "cdn":
                return self._cdn(body)
            parts = self.path.lstrip("/").split("/", 4)  # org, name, "resolve", revision, filename
            if len(parts) != 5 or parts[2] != "resolve":
                return self._send(404, {"X-Error-Code": "RepoNotFound"})
            self._hub(f"{parts[0]}/{parts[1]}", parts[3], parts[4], body)

        def _hub(self, repo_id: str, revision: str, filename: str, body: bool) -> None:
            path = stub.root / repo_id / filename
            if repo_id in FAILING:
                status, code = FAILING[repo_id]
                return self._send(status, {"X-Error-Code": code})
            if not (stub.root / repo_id).is_dir():
                return self._send(404, {"X-Error-Code": "RepoNotFound"})
            if revision not in REVISIONS:
                return self._send(404, {"X-Error-Code": "RevisionNotFound"})
            if not path.is_file():
                return self._send(404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": COMMIT})
            data = path.read_bytes()
            if filename.endswith(".safetensors"):  # LFS: metadata on the redirect, bytes on the CDN
                sha256 = hashlib.sha256(data).hexdigest()
                return self._send(302, {"Location": f"{stub.cdn_url}/{repo_id}/{filename}",
                                        "X-Linked-Size": str(len(data)), "X-Linked-Etag": f'"{sha256}"',
                                        "ETag": '"pointer"', "X-Repo-Commit": COMMIT})
            etag = f'"{hashlib.sha1(data).hexdigest()}"'
            self._send(200, {"ETag": etag, "X-Repo-Commit": COMMIT}, data if body else b"", len(data))

        def _cdn(self, body: bool) -> None:
            data = (stub.root / self.path.lstrip("/")).read_bytes()
            spec = self.headers.get("Range")
            if spec is None or stub.ignore_range:
                return self._send(200, {}, data if body else b"", len(data))
            first, last = (int(x) for x in spec.removeprefix("bytes=").split("-"))
            part = data[first:last + 1]
            self._send(206, {"Content-Range": f"bytes {first}-{first + len(part) - 1}/{len(data)}"},
                       part if body else b"", len(part))

        def _send(self, status: int, headers: dict[str, str], data: bytes = b"",
                  length: int | None = None) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data) if length is None else length))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@pytest.fixture
def stub(tmp_path, monkeypatch):
    """A running stub Hub + CDN, with huggingface_hub pointed at it and at a cache in tmp_path."""
    hub = StubHub(tmp_path / "remote")
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub, name)) for name in ("hub", "cdn")]
    for s in servers:
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    hub.hub_url, hub.cdn_url = (f"http://127.0.0.1:{s.server_address[1]}" for s in servers)
    for key, value in _hf_env(hub.hub_url, tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    # huggingface_hub reads these environment variables once, at import
    monkeypatch.setattr(constants, "ENDPOINT", hub.hub_url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                        hub.hub_url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", os.environ["HF_HUB_CACHE"])
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf" / "token"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    yield hub
    for s in servers:
        s.shutdown()
        s.server_close()


def _hf_env(endpoint: str, tmp_path: Path) -> dict[str, str]:
    return {"HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "hf"),
            "HF_HUB_CACHE": str(tmp_path / "hf" / "hub"), "HF_HUB_DISABLE_TELEMETRY": "1"}


def weights(seed: int, names: list[str]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    shapes = [(4, 8), (8,), (3, 5, 2)]
    return {n: rng.standard_normal(shapes[i % 3]).astype(np.float16) for i, n in enumerate(names)}


def header_bytes(path: Path) -> int:
    """8 + N, the header of one safetensors file, read from its first 8 bytes."""
    with open(path, "rb") as f:
        return 8 + int.from_bytes(f.read(8), "little")


def sharded_repo(stub: StubHub, repo_id: str = "org/sharded") -> Path:
    shards = {"model-00001-of-00002.safetensors": weights(1, ["a.weight", "b.bias", "c.weight"]),
              "model-00002-of-00002.safetensors": weights(2, ["d.weight", "e.bias"])}
    weight_map = {t: shard for shard, tensors in shards.items() for t in tensors}
    index = {"metadata": {"total_size": 0}, "weight_map": weight_map}
    return stub.add_repo(repo_id, {"config.json": llama_cfg(), **shards,
                                   "model.safetensors.index.json": index})


# --- online, through the stub --------------------------------------------------------------------


def test_single_file_repo_reads_same_tensors_as_local(stub):
    folder = stub.add_repo("org/single", {"config.json": llama_cfg(),
                                          "model.safetensors": weights(0, ["x", "y", "z"])})
    config, ckpt, origin = open_hub("org/single")
    local = read_safetensors(str(folder / "model.safetensors"))
    assert config == llama_cfg()
    assert ckpt.tensors == local.tensors and ckpt.metadata == {"format": "pt"}
    assert ckpt.bytes_read == local.bytes_read == header_bytes(folder / "model.safetensors")
    assert origin == f"{stub.hub_url}/org/single/blob/{COMMIT}/config.json"


def test_sharded_repo_reads_only_header_ranges(stub):
    folder = sharded_repo(stub)
    _, ckpt, _ = open_hub("org/sharded")
    local = read_safetensors(str(folder / "model.safetensors.index.json"))
    assert sorted(ckpt.tensors, key=lambda t: t.name) == sorted(local.tensors, key=lambda t: t.name)
    assert ckpt.files == 2
    shard_files = sorted(folder.glob("*.safetensors"))
    index_bytes = (folder / "model.safetensors.index.json").stat().st_size
    assert ckpt.bytes_read == index_bytes + sum(header_bytes(p) for p in shard_files) == local.bytes_read
    weight_gets = stub.gets(".safetensors")
    assert weight_gets and all(e[0] == "cdn" and e[3] is not None for e in weight_gets)
    assert len(weight_gets) == 2 * len(shard_files)  # the 8-byte length, then the header


def test_range_reads_are_exactly_the_header(stub):
    folder = stub.add_repo("org/single", {"config.json": llama_cfg(),
                                          "model.safetensors": weights(0, ["x"])})
    open_hub("org/single")
    n = header_bytes(folder / "model.safetensors") - 8
    assert [e[3] for e in stub.gets("model.safetensors")] == ["bytes=0-7", f"bytes=8-{8 + n - 1}"]


def test_revision_is_passed_through(stub):
    sharded_repo(stub)
    _, ckpt, origin = open_hub("org/sharded", revision="v1.0")
    assert stub.gets("/resolve/v1.0/config.json")
    assert ckpt is not None and COMMIT in origin  # later files are read at the resolved commit
    with pytest.raises(LlmsizeError, match=r"org/sharded: .*HTTP 404: no revision 'v9'"):
        open_hub("org/sharded", revision="v9")


def test_repo_with_config_only(stub):
    stub.add_repo("org/bare", {"config.json": llama_cfg()})
    config, ckpt, _ = open_hub("org/bare")
    assert config == llama_cfg() and ckpt is None


@pytest.mark.parametrize(("repo_id", "status"), [("org/missing", 404), ("org/private", 401),
                                                 ("org/gated", 403)])
def test_http_errors_are_one_line(stub, repo_id, status):
    with pytest.raises(LlmsizeError) as err:
        open_hub(repo_id)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{repo_id}: ") and f"HTTP {status}" in message


def test_invalid_repo_id_is_one_line(stub):
    with pytest.raises(LlmsizeError, match=r"^org/a\.\.b: not a valid Hub repo id \(.*\)$"):
        open_hub("org/a..b")
    assert stub.log == []


def test_server_ignoring_range_is_refused(stub):
    stub.add_repo("org/single", {"config.json": llama_cfg(), "model.safetensors": weights(0, ["x"])})
    stub.ignore_range = True
    with pytest.raises(LlmsizeError, match="HTTP 200 to a Range request; refusing"):
        open_hub("org/single")


def test_token_goes_to_the_hub_but_not_the_cdn(stub, monkeypatch):
    stub.add_repo("org/single", {"config.json": llama_cfg(), "model.safetensors": weights(0, ["x"])})
    monkeypatch.setenv("HF_TOKEN", "hf_stubtoken")
    open_hub("org/single")
    assert {t for s, t in stub.tokens if s == "hub"} == {"Bearer hf_stubtoken"}
    assert {t for s, t in stub.tokens if s == "cdn"} == {None}


# --- offline: the local HF cache -----------------------------------------------------------------


def cache_repo(cache: Path, repo_id: str, files: dict[str, Path | dict], revision: str = "main") -> Path:
    """A repo in the HF cache layout: ``models--org--name/{refs/<revision>, snapshots/<sha>/...}``."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / revision).write_text(COMMIT)
    for name, content in files.items():
        target = snapshot / name
        if isinstance(content, Path):
            target.write_bytes(content.read_bytes())
        else:
            target.write_text(json.dumps(content))
    return snapshot


@pytest.fixture
def offline(stub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return Path(constants.HF_HUB_CACHE)


def test_offline_reads_cached_config(offline, stub):
    snapshot = cache_repo(offline, "org/cached", {"config.json": llama_cfg()})
    config, ckpt, origin = open_hub("org/cached")
    assert config == llama_cfg() and ckpt is None
    assert origin == str(snapshot / "config.json")
    assert stub.log == []


def test_offline_reads_cached_shard_headers(offline, stub):
    folder = sharded_repo(stub, "org/remote")
    files = {p.name: p for p in folder.iterdir()}
    cache_repo(offline, "org/cached", files)
    _, ckpt, _ = open_hub("org/cached")
    assert ckpt.tensors == read_safetensors(str(folder)).tensors
    assert stub.log == []


def test_offline_revision_uses_its_ref(offline):
    cache_repo(offline, "org/cached", {"config.json": llama_cfg()}, revision="v1.0")
    assert open_hub("org/cached", revision="v1.0")[0] == llama_cfg()
    with pytest.raises(LlmsizeError, match="revision main"):
        open_hub("org/cached")


def test_offline_not_cached_is_one_clear_line(offline):
    with pytest.raises(LlmsizeError) as err:
        open_hub("org/absent")
    message = str(err.value)
    assert "\n" not in message
    for needle in ("org/absent", "not in the local Hugging Face cache", "config.json", "HF_HUB_OFFLINE",
                   "hf download org/absent config.json", "local directory"):
        assert needle in message


def test_unreachable_hub_falls_back_to_cache(stub, monkeypatch):
    snapshot = cache_repo(Path(constants.HF_HUB_CACHE), "org/cached", {"config.json": llama_cfg()})
    dead = "http://127.0.0.1:9"  # the discard port: nothing listens, the connection is refused
    monkeypatch.setattr(constants, "ENDPOINT", dead)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                        dead + "/{repo_id}/resolve/{revision}/{filename}")
    config, _, origin = open_hub("org/cached")
    assert config == llama_cfg() and origin == str(snapshot / "config.json")
    with pytest.raises(LlmsizeError, match="org/other: not in the local .* could not be reached"):
        open_hub("org/other")


# --- end to end through the CLI ------------------------------------------------------------------


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HF_HUB_OFFLINE")} | env
    return subprocess.run([sys.executable, "-m", "llmsize", *args], capture_output=True, text=True,
                          timeout=60, env=full)


def test_cli_params_of_a_hub_id_matches_local_config(stub, tmp_path):
    folder = sharded_repo(stub, "org/tiny-llama")
    env = _hf_env(stub.hub_url, tmp_path)
    via_hub = _cli("params", "org/tiny-llama", "--json", env=env)
    local = _cli("params", str(folder / "config.json"), "--json", env=env)
    assert via_hub.returncode == 0, via_hub.stderr
    assert json.loads(via_hub.stdout)["total"] == json.loads(local.stdout)["total"]
    assert via_hub.stderr == ""
    assert all(e[3] is not None for e in stub.gets(".safetensors"))


def test_cli_hub_error_is_one_line(stub, tmp_path):
    proc = _cli("params", "org/missing", env=_hf_env(stub.hub_url, tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "org/missing" in proc.stderr and "HTTP 404" in proc.stderr
