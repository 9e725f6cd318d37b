"""Bounded reads: only regular files are opened, JSON is capped in size and depth.

A model path may name anything the file system holds. A FIFO blocks ``open()`` until a writer
comes; ``/dev/zero`` never ends; a symlink loop or a directory where a file belongs reads as "no such
file" to ``os.path.isfile``. So every file is opened with ``O_NONBLOCK`` (a FIFO opens at once) and
checked with ``fstat`` on the open descriptor (no race between the check and the read): anything
but a regular file is refused, naming what it is. JSON files are read up to a cap and parsed with
duplicate keys refused and nesting limited, so a hostile file ends in one clear line.
"""

from __future__ import annotations

import errno
import json
import os
import stat

from ..errors import LlmsizeError, shown, shown_path
from ..limits import CONFIG_CAP_BYTES, JSON_MAX_DEPTH

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words (``a FIFO (named pipe)``)."""
    return next((text for test, text in _KINDS if test(mode)), "not a file")


def os_problem(e: OSError) -> str:
    """An OSError in words: a symlink loop named as one, not as 'no such file'."""
    if e.errno == errno.ELOOP:
        return "too many levels of symbolic links (a symlink loop)"
    return (e.strerror or str(e)).lower() if e.errno != errno.ENOENT else "no such file or directory"


def path_problem(path: str) -> str | None:
    """Why ``path`` is not a regular file or directory (None when it is one)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        return os_problem(e)
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return f"not a regular file: {kind_of(mode)}"


def regular_fd(path: str, error: type[LlmsizeError] = LlmsizeError) -> int:
    """A blocking read descriptor of ``path`` if it is a regular file; else ``error`` naming it.
    Opened with ``O_NONBLOCK`` so that a FIFO opens at once, to be refused."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        if e.errno == errno.EISDIR:
            raise error(f"{shown_path(path)}: not a regular file: a directory") from None
        raise error(f"{shown_path(path)}: cannot read ({os_problem(e)})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise error(f"{shown_path(path)}: not a regular file: {kind_of(mode)}")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return fd


def open_regular(path: str, error: type[LlmsizeError] = LlmsizeError) -> BinaryIO:
    """``path`` opened for binary reading, if it is a regular file (``regular_fd``)."""
    return os.fdopen(regular_fd(path, error), "rb")


def read_capped(path: str, cap: int, what: str, error: type[LlmsizeError] = LlmsizeError) -> bytes:
    """The bytes of a regular file of at most ``cap`` bytes; a larger one is refused unread."""
    with open_regular(path, error) as f:
        size = os.fstat(f.fileno()).st_size
        if size > cap:
            raise error(f"{shown_path(path)}: {size:,} bytes is larger than the {cap // 2**20} MiB cap on "
                        f"a {what}")
        data = f.read(cap + 1)
    if len(data) > cap:  # grew while read
        raise error(f"{shown_path(path)}: larger than the {cap // 2**20} MiB cap on a {what}")
    return data


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise ValueError(f"duplicate key {shown(dup)}")
    return out


def _depth(value: Any) -> int:
    """How deep lists and objects nest in ``value`` (iterative: no recursion limit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if deepest > JSON_MAX_DEPTH:
            break
        stack.extend((c, depth + 1) for c in children)
    return deepest


def loads(data: bytes | str, label: str, error: type[LlmsizeError] = LlmsizeError) -> Any:
    """JSON with duplicate keys refused and nesting limited to ``JSON_MAX_DEPTH``."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = json.loads(text, object_pairs_hook=_no_duplicates)
    except UnicodeDecodeError:
        raise error(f"{label}: not UTF-8 text, so not JSON") from None
    except RecursionError:
        raise error(f"{label}: JSON nested deeper than {JSON_MAX_DEPTH} levels") from None
    except json.JSONDecodeError as e:
        raise error(f"{label}: not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    except ValueError as e:  # a duplicate key, or an integer of more than 4,300 digits
        raise error(f"{label}: not valid JSON ({shown(str(e), 120, quote=False)})") from None
    if _depth(value) > JSON_MAX_DEPTH:
        raise error(f"{label}: JSON nested deeper than {JSON_MAX_DEPTH} levels")
    return value


def read_json(path: str, what: str, error: type[LlmsizeError] = LlmsizeError,
              cap: int = CONFIG_CAP_BYTES) -> Any:
    """A JSON file of at most ``cap`` bytes (a regular file, no duplicate keys, bounded depth)."""
    return loads(read_capped(path, cap, what, error), shown_path(path), error)
