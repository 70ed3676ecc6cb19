"""Run one command and print its wall time and peak RSS as JSON (the only child, so exact).

    python benchmarks/measure.py -- COMMAND ...     # prints {"wall_s": ..., "peak_rss_mb": ...}

Benchmarks call ``measure(command)``, which runs this file in a fresh process per command so the
peak RSS belongs to that command alone.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time


def measure(command: list[str]) -> dict:
    """Wall time and peak RSS of ``command``, measured by this script in its own process."""
    out = subprocess.run([sys.executable, __file__, "--", *command], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"command failed: {' '.join(command)}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    argv = sys.argv[1:]
    if argv and argv[0] == "--":
        argv = argv[1:]
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(proc.returncode)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    print(json.dumps({"wall_s": round(wall, 3), "peak_rss_mb": round(peak_kb / 1024, 1)}))


if __name__ == "__main__":
    main()
