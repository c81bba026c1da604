#!/usr/bin/env python3
"""Where a benchmark step's time goes, zoo beside its PyTorch twin: reads the Chrome traces that
`zoo bench --profile DIR` and a twin's `--profile PREFIX` write (LibTorch's profiler, the same one
on both sides) and prints a Markdown table of the operators with the most self time (the time in an
operator minus the operators it called), in milliseconds per step.

Rows: the operators that take the most of either side's step, then "everything else" and "outside
any operator" (a step's wall time not inside a recorded operator: Python or C++ glue, and zoo's
own kernels where no operator encloses them). Backward work appears under the autograd node that
ran it ("autograd::engine::evaluate_function: MmBackward0") when it is not inside an operator.

Usage: benchmarks/profile_table.py ZOO_TRACE ZOO_STEPS TWIN_TRACE TWIN_STEPS [--rows N]
"""
import argparse
import collections
import json


def load_events(path):
    with open(path) as f:
        data = json.load(f)
    events = data["traceEvents"] if isinstance(data, dict) else data
    return [e for e in events if e.get("ph") == "X" and "dur" in e]


def self_times(events):
    """Self microseconds per operator name, and the wall span the events cover."""
    by_thread = collections.defaultdict(list)
    for e in events:
        by_thread[(e.get("pid"), e.get("tid"))].append(e)
    self_us = collections.Counter()
    inside_us = 0.0
    start, end = float("inf"), float("-inf")
    for thread_events in by_thread.values():
        thread_events.sort(key=lambda e: (float(e["ts"]), -float(e["dur"])))
        stack = []  # [end, name, child microseconds, duration]
        for e in thread_events:
            ts, dur = float(e["ts"]), float(e["dur"])
            start, end = min(start, ts), max(end, ts + dur)
            while stack and stack[-1][0] <= ts:
                finished = stack.pop()
                self_us[finished[1]] += finished[3] - finished[2]
            if stack:
                stack[-1][2] += dur
            else:
                inside_us += dur
            stack.append([ts + dur, e["name"], 0.0, dur])
        while stack:
            finished = stack.pop()
            self_us[finished[1]] += finished[3] - finished[2]
    return self_us, inside_us, max(0.0, end - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zoo_trace")
    parser.add_argument("zoo_steps", type=int)
    parser.add_argument("twin_trace")
    parser.add_argument("twin_steps", type=int)
    parser.add_argument("--rows", type=int, default=10)
    args = parser.parse_args()
    sides = {}
    for side, path, steps in (("zoo", args.zoo_trace, args.zoo_steps), ("twin", args.twin_trace, args.twin_steps)):
        self_us, inside_us, wall_us = self_times(load_events(path))
        ms = {name: us / 1000 / steps for name, us in self_us.items()}
        sides[side] = {"ms": ms, "wall": wall_us / 1000 / steps, "outside": max(0.0, wall_us - inside_us) / 1000 / steps}
    names = []
    for side in ("zoo", "twin"):
        top = sorted(sides[side]["ms"].items(), key=lambda item: -item[1])[: args.rows]
        names += [name for name, _ in top if name not in names]
    names.sort(key=lambda name: -max(sides[s]["ms"].get(name, 0.0) for s in sides))
    print("| operator (self time) | zoo ms/step | twin ms/step |")
    print("|---|---:|---:|")
    for name in names:
        cells = [f"{sides[s]['ms'][name]:.1f}" if name in sides[s]["ms"] else "-" for s in ("zoo", "twin")]
        print(f"| {name} | {cells[0]} | {cells[1]} |")
    rest = {s: sum(v for k, v in sides[s]["ms"].items() if k not in names) for s in sides}
    print(f"| everything else | {rest['zoo']:.1f} | {rest['twin']:.1f} |")
    print(f"| outside any operator | {sides['zoo']['outside']:.1f} | {sides['twin']['outside']:.1f} |")
    print(f"| **profiled step** | **{sides['zoo']['wall']:.1f}** | **{sides['twin']['wall']:.1f}** |")


if __name__ == "__main__":
    main()
