"""The figures the README states, read back so that a test can hold them to what it measures."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_claim(marker: str) -> str:
    """The first number the README writes after ``marker`` (``… largest error 3.3%`` → "3.3"),
    line breaks read as spaces."""
    text = " ".join(README.read_text().split())
    found = re.search(re.escape(marker) + r"\D*?(\d+(?:\.\d+)?)", text)
    assert found, f"README.md no longer states {marker!r}"
    return found.group(1)
