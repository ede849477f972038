"""Print a Markdown table of training runs from their eval-val.json / eval-test.json reports.

Usage: python benchmarks/compare_runs.py RUN_DIR [RUN_DIR ...]
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path


def row(run: Path) -> str:
    val = json.loads((run / "eval-val.json").read_text())
    test = json.loads((run / "eval-test.json").read_text())
    cfg = json.loads((run / "config.json").read_text())
    with (run / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    minutes = sum(float(r["seconds"]) for r in rows) / 60
    return (
        f"| {run.name} | {cfg['arch']} | {cfg['balance']} | {len(rows)} | {minutes:.0f} | {val['accuracy']:.4f} | "
        f"{test['accuracy']:.4f} | {test['macro_f1']:.4f} | {test['per_class']['disgust']['f1']:.4f} |"
    )


def main(runs: list[str]) -> None:
    print(
        "| run | arch | balance | epochs | train min | PublicTest acc | PrivateTest acc | PrivateTest macro-F1 | disgust F1 |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        print(row(Path(r)))
    from emolens.info import system_line

    print(f"\nmeasured on: {system_line()}")


if __name__ == "__main__":
    main(sys.argv[1:])
