"""Shared by the benchmark scripts: where results go and what machine made them."""

from __future__ import annotations

import datetime
import json
import os
import platform
from pathlib import Path

import pandas as pd

from galaxyutils.compare import to_markdown

RESULTS = Path(__file__).resolve().parent / "results"
SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def _markdown(rows: list[dict]) -> str:
    return to_markdown(pd.DataFrame(rows), index=False)


def write_results(name: str, rows: list[dict], notes: str = "", tables: dict[str, list[dict]] | None = None) -> str:
    """Print a markdown table of ``rows`` (then each of ``tables`` under its title) and write them,
    with the machine, to results/NAME.{md,json}."""
    RESULTS.mkdir(exist_ok=True)
    tables = tables or {}
    info = machine()
    text = f"# {name}\n\n{info['date']} on {info['cpu']} ({info['cores']} cores), {info['platform']}\n\n" + _markdown(rows)
    text += "".join(f"\n\n## {title}\n\n{_markdown(table)}" for title, table in tables.items())
    text += f"\n\n{notes}\n" if notes else "\n"
    (RESULTS / f"{name}.md").write_text(text)
    (RESULTS / f"{name}.json").write_text(json.dumps({"machine": info, "rows": rows, "tables": tables, "notes": notes}, indent=2) + "\n")
    print(text)
    return text
