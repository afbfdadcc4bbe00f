"""Each chapter's execution time in a book build, read from the log of `jupyter-book build .` (myst-nb prints one
"Executed notebook in S seconds" line per chapter), with the build's wall time when the log ends with it.

Usage: jupyter-book build . > build.log 2>&1; python benchmarks/book_build_times.py build.log [--note TEXT]
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from common import machine, save

EXECUTED = re.compile(r"book/(\S+\.ipynb): Executed notebook in ([\d.]+) seconds")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("log", help="the build's log")
    parser.add_argument("--wall-seconds", type=float, default=None, help="the whole build's wall time, if measured")
    parser.add_argument("--note", default="", help="what else ran on the machine meanwhile, if anything")
    args = parser.parse_args()
    log = Path(args.log).read_text()
    times = {name: float(seconds) for name, seconds in EXECUTED.findall(log)}
    if not times:
        raise SystemExit(f"error: no 'Executed notebook' line in {args.log}: is it a jupyter-book build's log?")
    warnings = sum(1 for line in log.splitlines() if re.search(r"WARNING|ERROR|Traceback", line))
    lines = ["# Chapter execution times in a book build (`jupyter-book build .`, CPU branch)", "",
             "| chapter | executed in |", "|---|---|"]
    lines += [f"| {name} | {seconds:.0f} s ({seconds / 60:.1f} min) |" for name, seconds in times.items()]
    lines += ["", f"Chapters together: {sum(times.values()):.0f} s"
              + (f"; the whole build: {args.wall_seconds:.0f} s" if args.wall_seconds else "")
              + f". Lines with WARNING, ERROR or Traceback in the log: {warnings}."]
    if args.note:
        lines += ["", f"Note: {args.note}"]
    lines += ["", f"Machine: {machine()}"]
    save("book_build_times", {"machine": machine(), "chapters": times, "wall_seconds": args.wall_seconds,
                              "warning_lines": warnings, "note": args.note}, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
