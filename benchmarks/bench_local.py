"""Sync LocalDict against a plain in-memory dict of pickled bytes (the floor).

Run: ``python -m benchmarks.bench_local``. Prints a Markdown table of medians
(microseconds per operation) and the ratios.
"""

from __future__ import annotations

import pickle

import cloudpickle

from persidict_sync import LocalDict

from ._timing import per_call_us

VALUE = {"id": 12345, "name": "example item", "tags": ["a", "b", "c"], "score": 0.75, "ok": True}
N = 20_000


def main() -> None:
    """Measure and print the table."""
    plain: dict[str, bytes] = {}
    store: LocalDict[object] = LocalDict()
    keys = [f"key{i}" for i in range(1000)]
    counter = iter(range(10**9))

    def plain_set() -> None:
        plain[keys[next(counter) % 1000]] = pickle.dumps(VALUE, protocol=5)

    def plain_cloud_set() -> None:
        plain[keys[next(counter) % 1000]] = cloudpickle.dumps(VALUE, protocol=5)

    def plain_get() -> object:
        return pickle.loads(plain[keys[next(counter) % 1000]])

    def store_set() -> None:
        store[keys[next(counter) % 1000]] = VALUE

    def store_get() -> object:
        return store[keys[next(counter) % 1000]]

    for k in keys:
        plain[k] = pickle.dumps(VALUE, protocol=5)
        store[k] = VALUE
    rows = {
        "set: dict + pickle.dumps": per_call_us(plain_set, N),
        "set: dict + cloudpickle.dumps": per_call_us(plain_cloud_set, N),
        "set: sync LocalDict": per_call_us(store_set, N),
        "get: dict + pickle.loads": per_call_us(plain_get, N),
        "get: sync LocalDict": per_call_us(store_get, N),
    }
    print(f"value: {len(pickle.dumps(VALUE, protocol=5))} pickled bytes, {N} calls x 7 runs\n")
    print("| operation | median us | min | max |")
    print("|---|---|---|---|")
    for name, (med, lo, hi) in rows.items():
        print(f"| {name} | {med:.3f} | {lo:.3f} | {hi:.3f} |")
    set_ratio = rows["set: sync LocalDict"][0] / rows["set: dict + pickle.dumps"][0]
    set_cloud = rows["set: sync LocalDict"][0] / rows["set: dict + cloudpickle.dumps"][0]
    get_ratio = rows["get: sync LocalDict"][0] / rows["get: dict + pickle.loads"][0]
    print(f"\nratio set vs pickle floor: {set_ratio:.2f}x | vs cloudpickle floor: {set_cloud:.2f}x"
          f" | get vs pickle floor: {get_ratio:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
