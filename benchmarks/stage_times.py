"""Wall time of the last run end to end, and split by stage from Snakemake's benchmark files.

Usage: python benchmarks/stage_times.py [workflow_dir]   (after `make run`)
Prints seconds per benchmarked rule, each rule's share of the run's wall time, and the wall time
from the first to the last timestamp of the newest log in .snakemake/log/.
"""

from __future__ import annotations

import re
import sys
from datetime import datetime
from pathlib import Path

import polars as pl

TIMESTAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$", re.MULTILINE)


def run_wall_seconds(workflow: Path) -> float:
    logs = sorted((workflow / ".snakemake" / "log").glob("*.snakemake.log"), key=lambda path: path.stat().st_mtime)
    if not logs:
        sys.exit(f"no Snakemake log under {workflow / '.snakemake/log'}")
    stamps = [datetime.strptime(stamp, "%a %b %d %H:%M:%S %Y") for stamp in TIMESTAMP.findall(logs[-1].read_text())]
    return (stamps[-1] - stamps[0]).total_seconds()


def main(workflow: Path) -> None:
    results = workflow / "results"
    files = sorted((results / "benchmarks").rglob("*.tsv"))
    if not files:
        sys.exit(f"no benchmark files under {results / 'benchmarks'}: run the pipeline first")
    rows = []
    for path in files:
        rule = path.relative_to(results / "benchmarks").parts[0]
        table = pl.read_csv(path, separator="\t")
        rows.append(
            {
                "rule": rule,
                "job": str(path.relative_to(results / "benchmarks")),
                "seconds": float(table["s"][0]),
                "max_rss_mb": float(table["max_rss"][0]),
            }
        )
    jobs = pl.DataFrame(rows)
    by_rule = jobs.group_by("rule").agg(pl.col("seconds").sum(), pl.col("max_rss_mb").max(), jobs=pl.len())
    wall = run_wall_seconds(workflow)
    by_rule = by_rule.with_columns(share_of_wall=pl.col("seconds") / wall).sort("seconds", descending=True)
    with pl.Config(tbl_rows=-1, tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True):
        print(by_rule)
    rest = wall - by_rule["seconds"].sum()
    print(
        f"end to end (newest .snakemake/log): {wall:.0f} s ({wall / 60:.1f} min); "
        f"unbenchmarked rules and scheduling: {rest:.0f} s ({rest / wall:.0%})"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("."))
