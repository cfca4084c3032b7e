"""Result CSVs of the benchmark scripts: new rows replace the old rows with the same key."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def write_merged(rows: list[dict], csv: Path, key: list[str]) -> pd.DataFrame:
    """Write ``rows`` to ``csv``, keeping the file's rows whose ``key`` columns no new row has.

    A rerun of some sections, settings or seeds thus replaces exactly those rows and keeps the
    rest. Returns the table written.
    """
    out = pd.DataFrame(rows)
    if csv.exists():
        old = pd.read_csv(csv)
        old = old[~old.set_index(key).index.isin(out.set_index(key).index)]
        out = pd.concat([old, out])
    out.to_csv(csv, index=False)
    return out
