"""Wall time of each chapter notebook under nbval, one notebook at a time in one process with every core (as a
reader runs a chapter; the test command runs them on pytest-xdist's workers, a core each, beside other files).

Bar (issue 4): all chapters together within 15 minutes on a 2-core CPU.
Usage: python benchmarks/book_timing.py
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from common import machine, save

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    notebooks = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
    rows, failed = [], False
    for notebook in notebooks:
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", str(notebook.relative_to(ROOT))],
                                cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        rows.append({"notebook": notebook.name, "seconds": seconds, "passed": result.returncode == 0})
        failed |= result.returncode != 0
        print(f"{notebook.name:<30} {seconds:6.0f} s  {'passed' if result.returncode == 0 else 'FAILED'}", flush=True)
    total = sum(r["seconds"] for r in rows)
    lines = ["# Chapter notebooks under nbval", "", "| notebook | wall s | passed |", "|---|---|---|"]
    lines += [f"| {r['notebook']} | {r['seconds']:.0f} | {r['passed']} |" for r in rows]
    lines += ["", f"Total: {total:.0f} s ({total / 60:.1f} min); bar <= 15 min: {'MET' if total <= 900 and not failed else 'NOT MET'}",
              f"Machine: {machine()}"]
    save("book_timing", {"machine": machine(), "notebooks": rows, "total_seconds": total}, lines)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
