"""Table of bench/compare_batched.sh's raw runs: per model, threads and B, each engine's best
S_TG and S_PP over the rounds (with the range), and wasm-chord / llama.cpp of the bests. Runs made
with --with-bench add a second table: each engine's single-sequence bench tg (best of the rounds)
beside the npl-1 S_TG ratio of the same rounds."""

import json
import pathlib
import sys
from collections import defaultdict


def llama_rows(path: pathlib.Path):
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("{"):
            r = json.loads(line)
            yield r["pl"], r["speed_tg"], r["speed_pp"]


def our_rows(path: pathlib.Path):
    for r in json.loads(path.read_text() or "[]"):
        yield r["npl"], r["tg_tokens_per_s"], r["pp_tokens_per_s"]


def bench_tg(path: pathlib.Path, engine: str) -> dict[int, float]:
    """depth -> tokens/s of the tg tests of a llama-bench (-o json) or wasm-chord bench (--json)
    run (one per depth: `-d 0,PP`; runs without -d have depth 0 only)."""
    out = {}
    for r in json.loads(path.read_text() or "[]"):
        if engine == "lbench":
            out[int(r.get("n_depth", 0))] = float(r["avg_ts"])
        else:
            test = r["test"]
            out[int(test.split("@ d")[1]) if "@ d" in test else 0] = float(r["tokens_per_s"])
    return out


def main(raw: pathlib.Path) -> None:
    # (model, threads, engine, B) -> [(s_tg, s_pp)]
    runs = defaultdict(list)
    failed = defaultdict(int)
    keys = set()
    # (model, threads, engine) -> [single-sequence bench tg t/s]
    single = defaultdict(list)
    for f in sorted(raw.glob("*.r*.*")):
        parts = f.name.split(".")
        # <model>.t<T>.r<R>.<engine>.<ext>
        model, t, engine, ext = ".".join(parts[:-4]), parts[-4], parts[-2], parts[-1]
        if engine in ("lbench", "obench") and ext == "json":
            try:
                for depth, ts in bench_tg(f, engine).items():
                    single[(model, t, engine, depth)].append(ts)
            except (ValueError, KeyError, IndexError):
                failed[(model, t, engine)] += 1
            continue
        if engine not in ("llama", "ours"):
            continue
        if ext == "failed":
            failed[(model, t, engine)] += 1
            continue
        if ext not in ("jsonl", "json"):
            continue
        try:
            rows = list(llama_rows(f) if engine == "llama" else our_rows(f))
        except (ValueError, KeyError):
            failed[(model, t, engine)] += 1
            continue
        for b, tg, pp in rows:
            runs[(model, t, engine, b)].append((tg, pp))
            keys.add((model, t, b))
    print((raw / "meta.txt").read_text().strip().replace("\n", "  \n"))
    print()
    print("| model | threads | B | llama.cpp S_TG | wasm-chord S_TG | ratio | llama.cpp S_PP | wasm-chord S_PP | ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")

    def cell(vals, i):
        if not vals:
            return "failed", None
        xs = [v[i] for v in vals]
        return f"{max(xs):.2f} ({min(xs):.2f}-{max(xs):.2f})", max(xs)

    for model, t, b in sorted(keys, key=lambda k: (k[0], int(k[1][1:]), k[2])):
        out = []
        for i in (0, 1):
            lc, lb = cell(runs[(model, t, "llama", b)], i)
            oc, ob = cell(runs[(model, t, "ours", b)], i)
            ratio = f"{ob / lb:.2f}" if lb and ob else "-"
            out += [lc, oc, ratio]
        print(f"| {model} | {t[1:]} | {b} | " + " | ".join(out) + " |")
    if single:
        depths = sorted({d for *_, d in single})
        print()
        print("Single-sequence decode in the same rounds (llama-bench with its default repacking,")
        print("`wasm-chord bench`; best of the rounds, `@ dN`: after N cached tokens, the positions")
        print("of batched-bench's decode) against batched-bench at B = 1:")
        print()
        head = ["model", "threads"]
        for d in depths:
            at = f" @ d{d}" if d else ""
            head += [f"llama-bench tg{at}", f"wasm-chord bench tg{at}", f"bench ratio{at}"]
        head.append("B=1 S_TG ratio")
        print("| " + " | ".join(head) + " |")
        print("| --- | " + " | ".join("---:" for _ in head[1:]) + " |")
        for model, t in sorted({(m, t) for m, t, *_ in single}, key=lambda k: (k[0], int(k[1][1:]))):
            cells = []
            for d in depths:
                lc, lb = cell([(x, 0) for x in single[(model, t, "lbench", d)]], 0)
                oc, ob = cell([(x, 0) for x in single[(model, t, "obench", d)]], 0)
                cells += [lc, oc, f"{ob / lb:.2f}" if lb and ob else "-"]
            _, l1 = cell(runs[(model, t, "llama", 1)], 0)
            _, o1 = cell(runs[(model, t, "ours", 1)], 0)
            r1 = f"{o1 / l1:.2f}" if l1 and o1 else "-"
            print(f"| {model} | {t[1:]} | " + " | ".join(cells) + f" | {r1} |")
    for (model, t, engine), n in sorted(failed.items()):
        print(f"\n{engine} failed {n} run(s) on {model} at {t[1:]} threads (see the raw folder)")
    print(f"\nraw runs: {raw}")


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]))
