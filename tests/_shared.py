"""Location of ../shared/data; tests that need it skip with a reason when it is absent."""

import os
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("REMADOM_SHARED_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))


def shared_file(name: str) -> Path:
    """Path of a file in ../shared/data, or skip the test with the reason."""
    p = SHARED / name
    if not p.exists():
        pytest.skip(f"../shared/data/{name} not found (real-data test; runs in CI where shared/ exists)")
    return p
