"""Sync FileDirDict against persidict 0.309's FileDirDict and a plain-Python floor.

Run: ``python -m benchmarks.bench_files [--rounds N] [--readme]``. Needs the
``persidict`` package (benchmark only: ``pip install persidict==0.309.0``).
10,000 small dict values. The contenders are interleaved (blocks of 500 gets,
single durable writes) so that background load hits them alike. Get and
list ratios are medians of per-round ratios; durable-write figures are medians
over every single write; rates are medians over rounds. ``--readme`` writes the table to benchmarks/README.md
(section "FileDirDict").
"""

from __future__ import annotations

import argparse
import os
import pickle
import random
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from persidict_sync import FileDirDict

from ._plain import write_value
from ._timing import timed as _timed

N_KEYS = 10_000
N_DURABLE = 100  # durable writes per round and contender: each costs two fsyncs
VALUE = {"id": 12345, "name": "example item", "tags": ["a", "b", "c"], "score": 0.75, "ok": True}
README = Path(__file__).with_name("README.md")


def _plain_durable_writes(folder: str, names: list[str]) -> None:
    """The floor: temp file + write + fsync + rename + folder fsync, nothing else."""
    for name in names:
        write_value(folder, name, VALUE, durable=True)


def run(rounds: int) -> list[tuple[str, str, str, str, bool]]:
    """Measure everything; return the table rows (name, ours, theirs, ratio, met)."""
    import persidict

    root = Path(tempfile.mkdtemp(prefix="bench_files_"))
    try:
        ours = FileDirDict(base_dir=root / "ours", durable=False)
        theirs = persidict.FileDirDict(base_dir=str(root / "theirs"))
        keys = [f"key{i:05d}" for i in range(N_KEYS)]
        ours.set_many({k: VALUE for k in keys})
        # Each library reads files it wrote itself. persidict's fill skips its
        # 10,000 fsyncs (the files are the same; durable writes are measured below).
        real_fsync = os.fsync
        os.fsync = lambda fd: None
        try:
            for k in keys:
                theirs[k] = VALUE
        finally:
            os.fsync = real_fsync
        assert theirs[keys[0]] == VALUE and len(theirs) == N_KEYS
        ours_durable = FileDirDict(base_dir=root / "ours_d", durable=True)
        theirs_durable = persidict.FileDirDict(base_dir=str(root / "theirs_d"))
        plain_dir = root / "plain"
        plain_dir.mkdir()
        order = keys[:]
        t: dict[str, list[float]] = {}

        def add(name: str, seconds: float, n: int) -> None:
            t.setdefault(name, []).append(seconds / n)

        for r in range(rounds):
            random.shuffle(order)
            # Alternate blocks of the contenders so that load spikes hit both alike;
            # the round's time is the sum over blocks.
            spent = {"get ours": 0.0, "get theirs": 0.0}
            for b in range(0, N_KEYS, 500):
                block = order[b : b + 500]
                spent["get ours"] += _timed(lambda block=block: [ours[k] for k in block])
                spent["get theirs"] += _timed(lambda block=block: [theirs[k] for k in block])
            for name, seconds in spent.items():
                add(name, seconds, N_KEYS)
            add("keys ours", _timed(lambda: list(ours.keys())), 1)
            add("keys theirs", _timed(lambda: list(theirs.keys())), 1)
            # fsync latency on a shared disk swings by 10x: alternate single writes
            # and keep every write's time (medians are taken over all of them).
            for i in range(N_DURABLE):
                k = f"r{r}k{i}"
                t.setdefault("durable plain", []).append(
                    _timed(lambda k=k: _plain_durable_writes(str(plain_dir), [k])))
                t.setdefault("durable ours", []).append(
                    _timed(lambda k=k: ours_durable.__setitem__(k, VALUE)))
                t.setdefault("durable theirs", []).append(
                    _timed(lambda k=k: theirs_durable.__setitem__(k, VALUE)))  # fmt: skip

            def fast_ours() -> None:
                for k in order[:2000]:
                    ours[k] = VALUE

            add("set ours", _timed(fast_ours), 2000)
            opens = [_timed(lambda: FileDirDict(base_dir=root / "ours")) for _ in range(50)]
            t.setdefault("open ours", []).append(statistics.median(opens))
        assert len(FileDirDict(base_dir=root / "ours")) == N_KEYS
        assert len(list(theirs.keys())) == N_KEYS
    finally:
        shutil.rmtree(root, ignore_errors=True)

    m = {name: statistics.median(v) for name, v in t.items()}

    def ratio(a: str, b: str) -> float:
        """Median over rounds (or single writes) of t[a] / t[b], measured side by side."""
        return statistics.median(x / y for x, y in zip(t[a], t[b], strict=True))

    get_x, keys_x = ratio("get theirs", "get ours"), ratio("keys theirs", "keys ours")
    # Single durable writes are too noisy to pair up: compare their medians.
    plain_x = m["durable ours"] / m["durable plain"]
    set_x = m["durable theirs"] / m["set ours"]
    both_x = m["durable theirs"] / m["durable ours"]

    def rate(s: float) -> str:
        return f"{1 / s:,.0f}/s"

    def ms(s: float) -> str:
        return f"{s * 1e3:.3f} ms"

    return [
        ("sync get (10k random keys)", rate(m["get ours"]), rate(m["get theirs"]),
         f"{get_x:.1f}x (>= 5x)", get_x >= 5),
        ("durable set vs plain temp+fsync+rename+dir-fsync", rate(m["durable ours"]),
         f"plain loop {rate(m['durable plain'])}", f"{plain_x:.2f}x the plain time (<= 1.25x)",
         plain_x <= 1.25),
        ("non-durable set vs persidict durable set", rate(m["set ours"]), rate(m["durable theirs"]),
         f"{set_x:.1f}x (>= 8x)", set_x >= 8),
        ("durable set, both durable", rate(m["durable ours"]), rate(m["durable theirs"]),
         f"{both_x:.1f}x", True),
        ("list(keys()) of 10k keys", ms(m["keys ours"]), ms(m["keys theirs"]),
         f"{keys_x:.1f}x (>= 3x)", keys_x >= 3),
        ("open a store of 10k keys", ms(m["open ours"]), "", "< 5 ms", m["open ours"] < 0.005),
    ]  # fmt: skip


def table(rows: list[tuple[str, str, str, str, bool]], rounds: int) -> str:
    """The Markdown table of the results."""
    lines = [
        f"10,000 keys, value {len(pickle.dumps(VALUE, protocol=5))} pickled bytes, "
        f"{rounds} rounds, contenders interleaved; medians (see the module docstring); "
        f"persidict {_their_version()}, "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} cores.",
        "",
        "| measurement | persidict-async | persidict / baseline | result (target) | met |",
        "|---|---|---|---|---|",
    ]
    for name, ours, theirs, ratio, met in rows:
        lines.append(f"| {name} | {ours} | {theirs} | {ratio} | {'yes' if met else 'NO'} |")
    return "\n".join(lines) + "\n"


def _their_version() -> str:
    from importlib.metadata import version

    return version("persidict")


def write_readme(text: str) -> None:
    """Replace (or add) the "## FileDirDict" section of benchmarks/README.md."""
    heading = "## FileDirDict"
    section = f"{heading}\n\nRun: `python -m benchmarks.bench_files`.\n\n{text}"
    old = README.read_text() if README.exists() else "# Benchmarks\n"
    start = old.find(heading + "\n")
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + section
    else:
        end = old.find("\n## ", start + len(heading))
        new = old[:start] + section + (old[end + 1 :] if end >= 0 else "")
    README.write_text(new)


def main(argv: list[str] | None = None) -> None:
    """Measure, print the table, optionally write it to the README."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--readme", action="store_true", help="write benchmarks/README.md")
    args = parser.parse_args(argv if argv is not None else [])
    text = table(run(args.rounds), args.rounds)
    print(text)
    if args.readme:
        write_readme(text)


if __name__ == "__main__":
    main(sys.argv[1:])
