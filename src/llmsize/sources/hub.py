"""A Hugging Face Hub repo id → its ``config.json`` and safetensors headers, never its weights.

How a repo is read online::

    config.json                   HEAD → the commit sha the revision names (no retries: offline
                                  falls back to the cache at once), then hf_hub_download (small;
                                  it lands in the HF cache)
    model.safetensors.index.json  hf_hub_download, if the repo is sharded
    *.safetensors                 HEAD  → size (X-Linked-Size for LFS files, else Content-Length)
                                           and location (the CDN URL the Hub redirects to)
                                  GET Range: bytes=0-7     → N, the header length
                                  GET Range: bytes=8-(8+N-1) → the JSON header

So each safetensors file costs one HEAD and two ranged GETs, and exactly 8 + N bytes of it are
received; ``Checkpoint.bytes_read`` counts those ranged bytes plus the index (fetched whole, as a
local read counts it; config.json is not part of the checkpoint). The ranged stream feeds
``safetensors.parse_file``, so the Hub gets the same spec checks
as a local file. After the first HEAD every file is read at the commit sha it reported
(``X-Repo-Commit``), so config and headers come from one commit even if the branch moves meanwhile.

We do our own ranged GETs rather than call ``HfApi.get_safetensors_metadata``: that helper
guesses with a ``bytes=0-100000`` first read and does not report the bytes it took, so the
"headers only" promise could not be measured. We still go through huggingface_hub for all else:
``HF_ENDPOINT``, ``HF_TOKEN`` (``build_hf_headers``; dropped when the Hub redirects to another
origin, as huggingface_hub does for signed CDN URLs), its shared HTTP session, its error classes.

Offline (``HF_HUB_OFFLINE=1``, or the Hub unreachable) the local HF cache answers instead:
``models--org--name/snapshots/<sha>/`` found through ``refs/<revision>``. A cached ``config.json``
is enough (parameters come from the config); cached safetensors files are read like local files.

huggingface_hub is an optional dependency: only Hub ids need it, so it is imported here, and this
module is imported only when a SOURCE is neither a path nor a catalog entry.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote, urlsplit

from ..errors import CheckpointError, LlmsizeError
from .checkpoint import Checkpoint, TensorInfo
from .hf_config import read_config_file
from .safetensors import join_shards, parse_file, read_index, read_safetensors, read_sharded, shard_names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

try:
    try:  # huggingface_hub 1.x speaks httpx; 2.x its fork httpx2
        import httpx2 as httpx
    except ImportError:  # pragma: no cover - depends on the installed huggingface_hub
        import httpx  # type: ignore[no-redef,unused-ignore]  # a redefinition only where httpx2 is installed
    from huggingface_hub import (
        constants,
        get_hf_file_metadata,
        hf_hub_download,
        hf_hub_url,
        try_to_load_from_cache,
    )
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status, validate_repo_id

    HAVE_HUB = True
except ImportError:  # pragma: no cover - exercised only without huggingface_hub
    HAVE_HUB = False

CONFIG_NAME = "config.json"
SINGLE_NAME = "model.safetensors"
INDEX_NAME = "model.safetensors.index.json"
SHARD_WORKERS = 8  # parallel shard reads: a 163-shard repo would otherwise take ~490 round trips in a row
RANGE_TIMEOUT_S = 30.0


class RangeReader:
    """A remote file seen through ``read(n)`` only: each read is one ``Range`` GET of the next n bytes.

    ``received`` counts the bytes the server actually sent. A server that ignores ``Range`` (answers
    200 with the whole file) is refused before its body is read, so weights are never downloaded.
    """

    def __init__(self, url: str, size: int, headers: dict[str, str], label: str) -> None:
        self.url, self.size, self.headers, self.label = url, size, headers, label
        self.pos = 0
        self.received = 0

    def read(self, n: int) -> bytes:
        n = max(0, min(n, self.size - self.pos))
        if n == 0:
            return b""
        data = self._get(self.pos, self.pos + n - 1)
        self.pos += len(data)
        self.received += len(data)
        return data

    def _get(self, first: int, last: int) -> bytes:
        headers = {**self.headers, "Range": f"bytes={first}-{last}", "Accept-Encoding": "identity"}
        with get_session().stream("GET", self.url, headers=headers, follow_redirects=True,
                                  timeout=RANGE_TIMEOUT_S) as r:
            hf_raise_for_status(r)
            if r.status_code != 206:
                raise CheckpointError(f"{self.label}: server answered HTTP {r.status_code} to a Range "
                                      "request; refusing to download the whole file")
            chunks, got = [], 0
            for chunk in r.iter_bytes():  # stop at what we asked for, whatever the server sends
                chunks.append(chunk)
                got += len(chunk)
                if got > last - first:
                    break
        return b"".join(chunks)[: last - first + 1]


def open_hub(repo_id: str, *,
             revision: str | None = None) -> tuple[dict[str, Any] | None, Checkpoint | None, str]:
    """``(config, checkpoint headers, origin)`` of a Hub repo; the HF cache answers when offline.

    ``origin`` is the ``…/blob/<commit>/config.json`` URL read online, or the cached file's path.
    Every failure is one ``LlmsizeError`` line naming the repo (and the HTTP status, if any).
    """
    if not HAVE_HUB:
        raise LlmsizeError(f"{repo_id}: reading a Hub repo needs huggingface_hub (pip install "
                           "'llmsize[hub]'), or pass a local directory holding config.json")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        raise LlmsizeError(f"{repo_id}: not a valid Hub repo id ({_first_line(e)})") from None
    if constants.is_offline_mode():
        return _open_cached(repo_id, revision, "HF_HUB_OFFLINE is set")
    try:
        return _open_online(repo_id, revision)
    except (httpx.TransportError, LocalEntryNotFoundError, OfflineModeIsEnabled) as e:
        cause = e.__cause__ or e
        why = f"the Hub at {constants.ENDPOINT} could not be reached ({type(cause).__name__})"
        return _open_cached(repo_id, revision, why)
    except HfHubHTTPError as e:
        raise _http_error(repo_id, revision, e) from None


# --- online -------------------------------------------------------------------------------------


def _open_online(repo_id: str, revision: str | None) -> tuple[dict[str, Any] | None, Checkpoint | None, str]:
    commit, has_config = _probe(repo_id, revision)
    # Through the cache with the caller's revision, so refs/<revision> is written for offline use.
    config_path = hf_hub_download(repo_id, CONFIG_NAME, revision=revision) if has_config else None
    ckpt = _online_checkpoint(repo_id, commit)
    if config_path is None:
        if ckpt is None:
            raise LlmsizeError(f"{repo_id}: the Hub repo has no {CONFIG_NAME} and no {SINGLE_NAME} or "
                               f"{INDEX_NAME} at revision {revision or 'main'}")
        return None, ckpt, ckpt.path
    origin = f"{constants.ENDPOINT}/{repo_id}/blob/{quote(commit, safe='')}/{CONFIG_NAME}"
    return read_config_file(config_path), ckpt, origin


def _probe(repo_id: str, revision: str | None) -> tuple[str, bool]:
    """The commit sha ``revision`` names, and whether it has a config.json, from one HEAD.

    Unlike ``hf_hub_download``, which retries an unreachable Hub for ~45 s when nothing is cached,
    this HEAD does not retry, so offline use falls back to the cache at once.
    """
    url = hf_hub_url(repo_id, CONFIG_NAME, revision=revision)
    try:
        meta = get_hf_file_metadata(url)
    except RemoteEntryNotFoundError as e:
        return e.response.headers.get(constants.HUGGINGFACE_HEADER_X_REPO_COMMIT) or revision or "main", False
    return meta.commit_hash or revision or "main", True


def _download(repo_id: str, filename: str, revision: str | None) -> str | None:
    """A small file through the HF cache, or None if the repo has no such file."""
    try:
        return hf_hub_download(repo_id, filename, revision=revision)
    except RemoteEntryNotFoundError:
        return None


def _online_checkpoint(repo_id: str, commit: str) -> Checkpoint | None:
    """The headers of the repo's sharded or single safetensors checkpoint, or None if it has neither."""
    index_path = _download(repo_id, INDEX_NAME, commit)
    if index_path is not None:
        return _remote_sharded(repo_id, commit, index_path)
    try:
        tensors, meta, received = _read_remote(repo_id, SINGLE_NAME, commit)
    except RemoteEntryNotFoundError:
        return None
    url = hf_hub_url(repo_id, SINGLE_NAME, revision=commit)
    return Checkpoint("safetensors", url, tuple(tensors), dict(meta), received)


def _open_remote(repo_id: str, filename: str, commit: str) -> RangeReader:
    """HEAD the file for its size and final location, and wrap it for ranged reads."""
    url = hf_hub_url(repo_id, filename, revision=commit)
    meta = get_hf_file_metadata(url)
    if meta.size is None:
        raise CheckpointError(f"{url}: the Hub gave no size (X-Linked-Size or Content-Length)")
    headers = build_hf_headers()
    if _origin(meta.location) != _origin(url):  # a signed CDN URL: the token must not leave the Hub
        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    return RangeReader(meta.location, meta.size, headers, label=url)


def _read_remote(repo_id: str, filename: str, commit: str) -> tuple[list[TensorInfo], dict[str, str], int]:
    reader = _open_remote(repo_id, filename, commit)
    tensors, meta, _ = parse_file(reader, reader.label, reader.size)
    return tensors, meta, reader.received


def _remote_sharded(repo_id: str, commit: str, index_path: str) -> Checkpoint:
    """Every shard an index names, read in parallel, and the index checked against their headers."""
    label = hf_hub_url(repo_id, INDEX_NAME, revision=commit)
    weight_map = read_index(index_path)
    shards = shard_names(label, weight_map)
    with ThreadPoolExecutor(max_workers=max(1, min(SHARD_WORKERS, len(shards)))) as pool:
        results = list(pool.map(lambda s: _read_remote(repo_id, s, commit), shards))
    tensors = join_shards(label, weight_map, {s: r[0] for s, r in zip(shards, results, strict=True)})
    # as for a local index: the index (fetched whole) counts, then each shard's ranged header bytes
    read = os.path.getsize(index_path) + sum(r[2] for r in results)
    return Checkpoint("safetensors", label, tensors, {}, read, len(shards))


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _http_error(repo_id: str, revision: str | None, e: HfHubHTTPError) -> LlmsizeError:
    """One line: the repo, the HTTP status, what it means and the URL that answered."""
    status = e.response.status_code
    if isinstance(e, GatedRepoError):
        what = "the repo is gated: accept its terms on the Hub, then set HF_TOKEN"
    elif isinstance(e, RepositoryNotFoundError):
        what = "no such repo, or it is private and HF_TOKEN does not grant access"
    elif isinstance(e, RevisionNotFoundError):
        what = f"no revision {revision!r}"
    elif isinstance(e, RemoteEntryNotFoundError):
        what = "a file the repo should have is missing"
    else:
        what = _first_line(e)
    return LlmsizeError(f"{repo_id}: the Hub answered HTTP {status}: {what} ({e.response.url})")


def _first_line(e: BaseException) -> str:
    lines = [line for line in str(e).splitlines() if line.strip()]
    return lines[0] if lines else type(e).__name__


# --- offline: the local HF cache ----------------------------------------------------------------


def _open_cached(repo_id: str, revision: str | None,
                 why: str) -> tuple[dict[str, Any] | None, Checkpoint | None, str]:
    """Config (required) and any safetensors headers from the cache's snapshot of ``revision``."""
    found = try_to_load_from_cache(repo_id, CONFIG_NAME, revision=revision)
    if not isinstance(found, str):  # None, or the "known not to exist" marker
        raise LlmsizeError(
            f"{repo_id}: not in the local Hugging Face cache ({constants.HF_HUB_CACHE} has no {CONFIG_NAME} "
            f"for revision {revision or 'main'}) and {why}; download it with "
            f"`hf download {repo_id} {CONFIG_NAME}`, or pass a local directory holding {CONFIG_NAME}"
        )
    return read_config_file(found), _cached_checkpoint(os.path.dirname(found)), found


def _cached_checkpoint(snapshot: str) -> Checkpoint | None:
    """The snapshot's safetensors headers, if every file they need is cached; else None."""
    index = os.path.join(snapshot, INDEX_NAME)
    if os.path.isfile(index):
        shards = set(read_index(index).values())
        if all(os.path.isfile(os.path.join(snapshot, s)) for s in shards):
            return read_sharded(index)
        return None
    single = os.path.join(snapshot, SINGLE_NAME)
    return read_safetensors(single) if os.path.isfile(single) else None
