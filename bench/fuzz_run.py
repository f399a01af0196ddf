"""Fuzz one target with N deterministic inputs and print inputs, crashes, slowest input and peak RSS.

Inputs are derived from (target, seed, index), so any finding is replayed with ``--replay FILE``
(a saved input) or by re-running the same seed. Findings are saved under ``--crash-dir``.

Usage:
  .venv/bin/python bench/fuzz_run.py --target feed --inputs 100000 [--seed 1] [--workers 2]
  .venv/bin/python bench/fuzz_run.py --target text --replay tests/resources/fuzz/text-....json [--minimise]
Targets: feed, page, yaml, text, search, mail (tests/fuzz/target_*.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzz.engine import MEMORY_LIMIT_MB, TIME_LIMIT, Stats, fuzz_pool, minimise, run_one
from tests.fuzz.targets import load_target


def report(stats: Stats, wall: float, load_before: tuple[float, float, float]) -> dict:
    """The figures as printed and as JSON."""
    ok_time = stats.slowest_seconds <= TIME_LIMIT
    ok_mem = stats.input_peak_mb <= MEMORY_LIMIT_MB and not stats.over_memory
    return {
        "target": stats.target, "seed": stats.seed, "inputs": stats.inputs, "crashes": stats.crashes, "contained": stats.contained,
        "over_time_limit": stats.over_time, "slowest_input_cpu_s": round(stats.slowest_seconds, 3),
        "slowest_input_wall_s": round(stats.slowest_wall_seconds, 3),
        "slowest_index": stats.slowest_index, "inputs_per_s": round(stats.inputs / wall, 1) if wall else None,
        "wall_s": round(wall, 1), "cpu_ms_per_input": round(1000 * stats.cpu_seconds / max(1, stats.inputs), 2),
        "rss_after_setup_mb": round(stats.baseline_rss_mb, 1),
        "peak_rss_mb": round(stats.peak_rss_mb, 1), "peak_growth_mb": round(stats.growth_mb, 1),
        "input_peak_mb": round(stats.input_peak_mb, 1), "input_peak_index": stats.input_peak_index,
        "over_memory_limit": stats.over_memory,
        "within_limits": ok_time and ok_mem and stats.crashes == 0,
        "limits": f"{TIME_LIMIT}s and {MEMORY_LIMIT_MB} MB per input",
        "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in os.getloadavg()],
        "findings": [asdict(f) for f in stats.findings[:20]],
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", required=True)
    ap.add_argument("--inputs", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--crash-dir", default="var/fuzz")
    ap.add_argument("--progress", type=int, default=0, help="print a progress line every N inputs per worker")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--max-seconds", type=float, help="stop each worker after this long (inputs run are printed)")
    ap.add_argument("--replay", help="run one saved input and print what happens")
    ap.add_argument("--minimise", action="store_true", help="with --replay: shrink it and save FILE.min")
    args = ap.parse_args(argv)

    if args.replay:
        target = load_target(args.target)
        target.setup()
        value = target.decode(Path(args.replay).read_bytes())
        kind, message, seconds, wall = run_one(target, value)
        print(f"{args.replay}: {kind or 'ok'} in {seconds:.3f}s CPU ({wall:.3f}s wall)\n{message}")
        if args.minimise and kind:
            small = minimise(target, value)
            out = Path(args.replay + ".min")
            out.write_bytes(target.encode(small))
            print(f"minimised to {len(target.encode(small))} bytes: {out}")
        target.teardown()
        return 1 if kind else 0

    load = os.getloadavg()
    t0 = time.perf_counter()
    stats = fuzz_pool(args.target, args.seed, args.inputs, args.workers, args.crash_dir, args.progress,
                      args.max_seconds)
    fig = report(stats, time.perf_counter() - t0, load)
    print(f"target {fig['target']} (seed {fig['seed']}, {args.workers} worker(s))")
    print(f"  inputs            {fig['inputs']} (of {args.inputs} asked)")
    print(f"  crashes           {fig['crashes']}")
    print(f"  contained         {fig['contained']} (third-party exceptions caught and reported by Rasad)")
    print(f"  over {TIME_LIMIT}s         {fig['over_time_limit']}")
    print(f"  slowest input     {fig['slowest_input_cpu_s']} s CPU (index {fig['slowest_index']}); "
          f"slowest wall time {fig['slowest_input_wall_s']} s")  # fmt: skip
    print(f"  memory per input  +{fig['input_peak_mb']} MB at most above the RSS it started from (index "
          f"{fig['input_peak_index']}); over {MEMORY_LIMIT_MB} MB: {fig['over_memory_limit']}")  # fmt: skip
    print(f"  peak RSS          {fig['peak_rss_mb']} MB ({fig['rss_after_setup_mb']} MB after setup: +{fig['peak_growth_mb']} MB "
          f"held by the worker at its peak, caches and all)")  # fmt: skip
    print(f"  throughput        {fig['inputs_per_s']} inputs/s, {fig['wall_s']} s wall, "
          f"{fig['cpu_ms_per_input']} ms CPU per input")  # fmt: skip
    print(f"  load average      {fig['load_before']} before, {fig['load_after']} after")
    for f in fig["findings"]:
        print(f"  {f['kind']} at index {f['index']} ({f['seconds']:.2f}s): {f['message'].splitlines()[0][:300]}"
              + (f"\n    saved {f['path']}" if f["path"] else ""))  # fmt: skip
    print(f"  verdict           {'PASS' if fig['within_limits'] else 'FAIL'}")
    if args.json:
        Path(args.json).write_text(json.dumps(fig, indent=1, ensure_ascii=False), encoding="utf-8")
    return 0 if fig["within_limits"] else 1


if __name__ == "__main__":
    sys.exit(main())
