"""Table of bench/ab_batched.sh's raw runs: per model, threads and B, the best S_TG and S_PP of
the old and the new binary over the rounds (with the range), new / old of the bests, and the
new binary's S_TG relative to its own B = 1; then the load averages seen before the runs."""

import json
import pathlib
import sys
from collections import defaultdict


def main(raw: pathlib.Path) -> None:
    # (model, threads, side, B) -> [(s_tg, s_pp)]
    runs = defaultdict(list)
    keys = set()
    loads = []
    for f in sorted(raw.glob("*.r*.*.json")):
        # <model>.t<T>.r<R>.<side>.json
        parts = f.name.split(".")
        model, t, side = ".".join(parts[:-4]), parts[-4], parts[-2]
        load = f.with_suffix(".load")
        if load.exists():
            loads.append(load.read_text().split()[0])
        try:
            rows = json.loads(f.read_text() or "[]")
        except ValueError:
            continue
        for r in rows:
            runs[(model, t, side, r["npl"])].append((r["tg_tokens_per_s"], r["pp_tokens_per_s"]))
            keys.add((model, t, r["npl"]))
    print((raw / "meta.txt").read_text().strip().replace("\n", "  \n"))
    print()
    print("| model | threads | B | old S_TG | new S_TG | new/old | new S_TG / its B=1 | old S_PP | new S_PP | new/old |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")

    def cell(vals, i):
        if not vals:
            return "failed", None
        xs = [v[i] for v in vals]
        return f"{max(xs):.2f} ({min(xs):.2f}-{max(xs):.2f})", max(xs)

    def ratio(a, b):
        return f"{a / b:.2f}" if a and b else "-"

    for model, t, b in sorted(keys, key=lambda k: (k[0], int(k[1][1:]), k[2])):
        old_tg, otg = cell(runs[(model, t, "old", b)], 0)
        new_tg, ntg = cell(runs[(model, t, "new", b)], 0)
        old_pp, opp = cell(runs[(model, t, "old", b)], 1)
        new_pp, npp = cell(runs[(model, t, "new", b)], 1)
        _, n1 = cell(runs[(model, t, "new", 1)], 0)
        print(
            f"| {model} | {t[1:]} | {b} | {old_tg} | {new_tg} | {ratio(ntg, otg)} | {ratio(ntg, n1)}"
            f" | {old_pp} | {new_pp} | {ratio(npp, opp)} |"
        )
    if loads:
        print()
        print(f"load average (1 min) before the runs: {min(loads)} .. {max(loads)} on {len(loads)} runs")


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]))
