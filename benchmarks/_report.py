"""Results of the peers benchmark: machine description, JSON, Markdown tables, PNG chart."""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from ._peers import ADAPTERS, LIMIT, OURS
from ._timing import spread

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CHART = ROOT / "docs" / "benchmarks.png"
README = ROOT / "benchmarks" / "README.md"
WHOLE_OPS = ("list keys", "len", "items()", "open existing store")  # timed as a whole, shown in ms
FLOOR = "latency floor"
PACKAGES = ("persidict-async", "persidict", "diskcache", "sqlitedict", "nfsdict", "matplotlib")


def _disk(path: Path) -> str:
    """The file system and block device holding ``path``, as far as Linux tells."""
    try:
        mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return "unknown"
    best = max((m for m in mounts if str(path).startswith(m[1])), key=lambda m: len(m[1]), default=None)
    if best is None:
        return "unknown"
    dev = os.path.basename(best[0])
    block = dev.rstrip("0123456789") if dev.startswith(("sd", "vd", "xvd")) else dev.split("p")[0]
    rot = Path(f"/sys/block/{block}/queue/rotational")
    kind = {"0": "non-rotational", "1": "reported rotational"}.get(
        rot.read_text().strip() if rot.exists() else "", "type unknown"
    )
    virt = " (virtio virtual disk)" if block.startswith("vd") else ""
    return f"{best[2]} on /dev/{dev}{virt}, {kind}"


def machine(tmp: Path) -> dict[str, Any]:
    """Cores, memory, Python, OS, disk, package versions, date."""
    mem = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 2**20:.0f} GiB"
    except OSError:
        pass
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = "not installed"
    return {
        "cores": os.cpu_count(),
        "memory": mem,
        "python": sys.version.split()[0],
        "os": platform.platform(),
        "disk": _disk(tmp),
        "shelve_backend": _shelve_backend(),
        "packages": versions,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
        "note": "shared machine: other work ran at the same time; medians of interleaved rounds",
    }


def _shelve_backend() -> str:
    import dbm

    for name in ("dbm.gnu", "dbm.ndbm"):
        try:
            __import__(name)
            return name
        except ImportError:
            continue
    return dbm.__name__ + ".dumb"


def document(samples: dict[tuple[str, str, str], list[float]], config: dict[str, Any],
             machine_info: dict[str, Any], latency: float) -> dict[str, Any]:  # fmt: skip
    """The JSON document: per section, operation and contender, seconds (median, min, max)."""
    sections: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for (section, op, who), values in samples.items():
        sections.setdefault(section, {}).setdefault(op, {})[who] = {**spread(values), "n": len(values)}
    for section, ops in sections.items():
        if section.startswith("S3"):
            for op, row in ops.items():
                c = int(op.rsplit("c=", 1)[1]) if "c=" in op else 1
                n = int(op.split()[1]) if "keys" in op else 1
                floor = latency * math.ceil(n / c) / n
                row[FLOOR] = {"median": floor, "min": floor, "max": floor, "n": 0}
    return {
        "machine": machine_info,
        "config": config,
        "units": "seconds per key (per write for 'set, durable'; per call for "
        + ", ".join(WHOLE_OPS) + ", which are whole operations)",
        "sections": sections,
        "ratios": {s: {op: _ratios(row) for op, row in ops.items()} for s, ops in sections.items()},
    }


def _limit_of(row: dict[str, Any]) -> str | None:
    return LIMIT if LIMIT in row else FLOOR if FLOOR in row else None


def _ratios(row: dict[str, dict[str, float]]) -> dict[str, Any]:
    """persidict-async's median time over the best peer's and over the limit's."""
    out: dict[str, Any] = {}
    if OURS not in row:
        return out
    ours = row[OURS]["median"]
    peers = {w: v["median"] for w, v in row.items() if w not in (OURS, LIMIT, FLOOR)}
    if peers:
        best = min(peers, key=lambda w: peers[w])
        out["best_peer"] = best
        out["vs_best_peer"] = ours / peers[best]
    limit = _limit_of(row)
    if limit:
        out["vs_limit"] = ours / row[limit]["median"]
    return out


def _fmt(seconds: float, whole: bool) -> str:
    v = seconds * (1e3 if whole else 1e6)
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def _columns(ops: dict[str, dict[str, Any]]) -> list[str]:
    present = {w for row in ops.values() for w in row}
    order = [*ADAPTERS, FLOOR]
    return [w for w in order if w in present]


def markdown(doc: dict[str, Any], details: bool = True) -> str:
    """Tables of medians with ratios; with ``details``, min-max of every measurement too."""
    m = doc["machine"]
    cfg = doc["config"]
    lines = [
        f"Machine: {m['cores']} cores, {m['memory']}, Python {m['python']}, {m['os']}, disk: {m['disk']}. "
        f"Measured {m['date']} on a shared machine (other work ran at the same time): contenders are "
        f"interleaved in random order{', one warm-up round discarded' if cfg.get('warmup') else ''}, "
        f"medians over {cfg['rounds']} rounds. Versions: "
        + ", ".join(f"{k} {v}" for k, v in m["packages"].items())
        + f"; shelve uses {m['shelve_backend']}.",
        "",
        f"Keys: {cfg['n_small']:,} values of ~100 B (a small dict, 92 pickled bytes) and "
        f"{cfg['n_large']:,} values of 100 KB (random bytes; fewer keys to keep the run short). "
        "Times in microseconds per key (per write for `set, durable`), or milliseconds per call "
        "for `list keys`, `len`, `items()` and `open existing store`. Ratio columns: "
        "persidict-async's time divided by the best peer's (below 1: persidict-async is faster) "
        "and by the physical limit's (plain files; in fan-out rows plain files read or written by "
        "as many threads; for S3 the 20 ms proxy latency per round of requests).",
        "",
        "Durability: `set, not durable` is persidict-async `durable=False`, diskcache with its "
        "default synchronous=NORMAL, sqlitedict with one commit per batch, shelve, plain files "
        "without fsync; persidict 0.309 and nfsdict always fsync, so they have no entry there. "
        "`set, durable` is persidict-async `durable=True`, persidict, nfsdict, diskcache with "
        "synchronous=FULL, sqlitedict autocommit, plain files with fsync of file and folder. "
        "`get, new process` starts a Python process that opens the store and reads every key "
        "(time from the open to the last read, imports excluded; the OS page cache is warm). "
        "nfsdict reads every value into memory when it opens, so its in-process reads, `in`, "
        "`len` and listing are dictionary look-ups; its open and new-process rows carry the cost.",
    ]
    for section, ops in doc["sections"].items():
        cols = _columns(ops)
        lines += ["", f"### {section}", ""]
        if section.startswith("fan-out"):
            lines += ["persidict_async.FileDirDict get_many/set_many (async, `max_concurrency=c`) "
                      "next to plain files handled by c threads.", ""]  # fmt: skip
        if section.startswith("S3"):
            lines += [f"SeaweedFS on 127.0.0.1 behind a proxy adding 20 ms per request; "
                      f"{cfg['s3_keys']} keys; persidict S3Dict sets and gets one key at a time "
                      "(the same loop in every c= row); persidict-async is persidict_sync.BasicS3Dict "
                      "(get_many/set_many for batches). Medians in microseconds per key.", ""]  # fmt: skip
        lines.append("| operation | " + " | ".join(cols) + " | vs best peer | vs limit |")
        lines.append("|---" * (len(cols) + 3) + "|")
        for op, row in ops.items():
            whole = op in WHOLE_OPS
            cells = [_fmt(row[w]["median"], whole) if w in row else "" for w in cols]
            r = doc["ratios"][section][op]
            best = f"{r['vs_best_peer']:.2f}x ({r['best_peer']})" if "vs_best_peer" in r else ""
            limit = f"{r['vs_limit']:.2f}x" if "vs_limit" in r else ""
            unit = "ms" if whole else "us"
            lines.append(f"| {op} ({unit}) | " + " | ".join(cells) + f" | {best} | {limit} |")
    if details:
        lines += ["", "### All measurements (median, min, max)", "",
                  "| section | operation | contender | median | min | max | samples |",
                  "|---|---|---|---:|---:|---:|---:|"]  # fmt: skip
        for section, ops in doc["sections"].items():
            for op, row in ops.items():
                whole = op in WHOLE_OPS
                unit = "ms" if whole else "us"
                for w, v in row.items():
                    nums = " | ".join(_fmt(v[x], whole) for x in ("median", "min", "max"))
                    lines.append(f"| {section} | {op} ({unit}) | {w} | {nums} | {v['n']} |")
    return "\n".join(lines) + "\n"


def chart(doc: dict[str, Any], path: Path) -> None:
    """Bar charts: time relative to plain files per size, fan-out rates, S3 per-key times."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    secs = doc["sections"]
    fig, axes = plt.subplots(2, 2, figsize=(15, 11))
    colors = {w: plt.get_cmap("tab10")(i) for i, w in enumerate([*ADAPTERS, FLOOR])}
    for ax, label in zip(axes[0], ("100 B", "100 KB"), strict=True):
        ops = secs.get(label, {})
        names = [w for w in ADAPTERS if w != LIMIT]
        oplist = [op for op in ops if LIMIT in ops[op]]
        height = 0.8 / len(names)
        for j, w in enumerate(names):
            ys = [i + j * height for i, op in enumerate(oplist) if w in ops[op]]
            xs = [ops[op][w]["median"] / ops[op][LIMIT]["median"] for op in oplist if w in ops[op]]
            ax.barh(ys, xs, height=height, label=w, color=colors[w])
        ax.axvline(1.0, color="black", lw=1)
        ax.set_xscale("log")
        ax.set_yticks([i + 0.4 - height / 2 for i in range(len(oplist))], oplist)
        ax.invert_yaxis()
        ax.set_xlabel("time / plain files (log scale; lower is better; 1 = physical limit)")
        ax.set_title(f"{label} values")
        ax.legend(fontsize=8, loc="lower right")
    ax = axes[1][0]
    fan = secs.get("fan-out, 100 B", {})
    for kind, style in (("get_many", "-"), ("set_many, not durable", "--"), ("set_many, durable", ":")):
        for w in (OURS, LIMIT):
            pts = [(int(op.rsplit("c=", 1)[1]), 1 / row[w]["median"]) for op, row in fan.items()
                   if op.startswith(kind + ",") and w in row]  # fmt: skip
            if pts:
                ax.plot(*zip(*pts, strict=True), style, marker="o", color=colors[w], label=f"{w}: {kind}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("concurrency c")
    ax.set_ylabel("keys per second (log)")
    ax.set_title("fan-out, 100 B values (async FileDirDict vs plain files on c threads)")
    ax.legend(fontsize=8)
    ax = axes[1][1]
    s3: dict[str, Any] = next((v for k, v in secs.items() if k.startswith("S3")), {})
    s3_ops = list(s3)
    who = [w for w in (OURS, "persidict 0.309", FLOOR) if any(w in r for r in s3.values())]
    height = 0.8 / max(1, len(who))
    for j, w in enumerate(who):
        ys = [i + j * height for i, op in enumerate(s3_ops) if w in s3[op]]
        xs = [s3[op][w]["median"] * 1e3 for op in s3_ops if w in s3[op]]
        ax.barh(ys, xs, height=height, label=w, color=colors[w])
    ax.set_xscale("log")
    ax.set_yticks([i + 0.4 - height / 2 for i in range(len(s3_ops))], s3_ops)
    ax.invert_yaxis()
    ax.set_xlabel("ms per key (log scale; lower is better)")
    ax.set_title("S3 through a 20 ms latency proxy")
    ax.legend(fontsize=8)
    m = doc["machine"]
    fig.suptitle(f"persidict-async and peers: {m['cores']} cores, {m['memory']}, Python {m['python']}, "
                 f"{m['disk']}; shared machine, medians ({m['date']})", fontsize=10)  # fmt: skip
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_readme(doc: dict[str, Any]) -> None:
    """Replace (or add) the "## Peers" section of benchmarks/README.md."""
    heading = "## Peers"
    body = markdown(doc, details=False).replace("\n### ", "\n#### ")
    section = (f"{heading}\n\nRun: `python -m benchmarks peers` (`--quick`: a smoke run). "
               "Full results with min-max: `benchmarks/results/latest.md` and `latest.json`; chart: "
               "`docs/benchmarks.png`.\n\n" + body)  # fmt: skip
    old = README.read_text()
    start = old.find(heading + "\n")
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + section
    else:
        end = old.find("\n## ", start + len(heading))
        new = old[:start] + section + (old[end:] if end >= 0 else "")
    README.write_text(new)


def write_all(doc: dict[str, Any], out: Path | None, readme: bool) -> None:
    """latest.json, latest.md and the chart (in ``out``, or the repository's places)."""
    results = out or RESULTS
    results.mkdir(parents=True, exist_ok=True)
    (results / "latest.json").write_text(json.dumps(doc, indent=1) + "\n")
    (results / "latest.md").write_text("# Peers benchmark: latest results\n\n" + markdown(doc))
    chart(doc, (out / "benchmarks.png") if out else CHART)
    if readme:
        write_readme(doc)
