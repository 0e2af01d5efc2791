#!/usr/bin/env python3
"""Benchmark `deployctl validate` over a generated tree of manifests, beside
taplo (`taplo check --schema`) and check-jsonschema on the same files with the
committed schema. Both of those check the schema only; deployctl also runs the
semantic checks. Prints the median wall time and peak memory of each.

The tools run alternately, one run of each in turn, on the same files in
the same invocation; medians of wall time, CPU time and peak memory, and
deployctl's ratio to taplo, are printed.

With `--hosts 50`, the manifests are placed on 50 hosts, 20 each
(`[devices.expect] host`, with `hosts/host-NN.toml` inventories of 8 GPUs),
and deployctl also plans every host's deployments together.

Usage: bench/validate_tree.py DEPLOYCTL_BIN [--count 1000] [--runs 9] [--hosts 50]
Run through bench/validate-tree.sh, which builds the release binary and
installs the other two tools first.
"""
import argparse
import os
import random
import shutil
import statistics

import sys
import tempfile


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMA = os.path.join(ROOT, "schemas", "deploy.schema.json")

MODELS = [
    ("Qwen/Qwen2.5-VL-3B-Instruct", "multimodal"),
    ("Qwen/Qwen2.5-VL-7B-Instruct", "multimodal"),
    ("Qwen/Qwen2.5-7B-Instruct", "text"),
    ("Qwen/Qwen2.5-72B-Instruct", "text"),
    ("meta-llama/Llama-3.1-8B-Instruct", "text"),
    ("mistralai/Mistral-7B-Instruct-v0.3", "text"),
]


HOST_GPU = """[[gpu]]
index = {index}
uuid = "GPU-{host:04d}{index:04d}-0000-0000-0000-000000000000"
name = "NVIDIA GeForce RTX 4090"
memory_total = "24564MiB"
memory_used = "0MiB"
compute_capability = "8.9"
"""


def manifest(i: int, rng: random.Random, hosts: int = 0) -> str:
    source, kind = rng.choice(MODELS)
    gpus = rng.choice([1, 2, 4, 8])
    strategy = rng.choice(["auto", "tensor", "pipeline"])
    lines = [
        "#:schema ../../schema.json",
        "version = 1",
        f'name = "deployment-{i:04d}"',
        "",
        "[model]",
        f'source = "{source}"',
        f'kind = "{kind}"',
        "",
        "[precision]",
        f'dtype = "{rng.choice(["auto", "bf16", "f16"])}"',
        f'quantization = "{rng.choice(["none", "q4k", "q8_0", "q6k"])}"',
        "",
        "[workload]",
        f"max_seq_len = {rng.choice([4096, 8192, 32768])}",
        f"max_batch_size = {rng.choice([1, 2, 4, 8])}",
    ]
    if kind == "multimodal":
        lines += ["max_images = 1", "max_image_size = [1024, 1024]"]
    limits = ", ".join(f'"{rng.choice([15, 20, 22])}GB"' for _ in range(gpus))
    lines += [
        "",
        "[devices]",
        f"gpus = [{', '.join(str(g) for g in range(gpus))}]",
        f"max_memory = [{limits}]",
        f'reserve = "{rng.choice([256, 512, 1024])}MiB"',
        "",
        "[devices.expect]",
        *([f'host = "host-{i % hosts:02d}"'] if hosts else []),
        f"count = {gpus}",
        'memory = "24GB"',
        'min_compute_capability = "8.0"',
        "",
        "[parallelism]",
        f'strategy = "{strategy}"',
    ]
    if strategy == "tensor":
        lines.append(f"tensor_size = {gpus}")
    lines += ["", "[server]", f"port = {8000 + i % 1000}", f"max_seqs = {rng.choice([1])}", ""]
    return "\n".join(lines)


def generate(tree: str, count: int, hosts: int = 0) -> list:
    rng = random.Random(42)
    files = []
    for i in range(count):
        folder = os.path.join(tree, f"team-{i % 50:02d}", f"model-{i:04d}")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, "deploy.toml")
        with open(path, "w") as f:
            f.write(manifest(i, rng, hosts))
        files.append(path)
    if hosts:
        os.makedirs(os.path.join(tree, "hosts"), exist_ok=True)
        for h in range(hosts):
            with open(os.path.join(tree, "hosts", f"host-{h:02d}.toml"), "w") as f:
                f.write("\n".join(HOST_GPU.format(host=h, index=g) for g in range(8)))
    shutil.copy(SCHEMA, os.path.join(tree, "schema.json"))
    return files


def run_once(name: str, argv: list, cwd: str) -> tuple:
    """Wall seconds, CPU seconds (user + system) and peak RSS in MiB of one run."""
    # 1 and 3: some manifests are invalid or do not fit, which is work done.
    wall, cpu, rss, _, _ = measure.run_once(argv, cwd, ok=(0, 1, 3))
    return wall, cpu, rss


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("deployctl")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--hosts", type=int, default=0, help="place the manifests on this many hosts")
    parser.add_argument("--venv", default=os.path.expanduser("~/.cache/deployctl/bench-venv"))
    parser.add_argument("--check-jsonschema", action="store_true", help="also time check-jsonschema (slow: seconds a run)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as work:
        tree = os.path.join(work, "tree")
        files = generate(tree, args.count, args.hosts)
        rel = [os.path.relpath(f, tree) for f in files]
        tools = [("deployctl validate", [os.path.abspath(args.deployctl), "validate", "."])]
        taplo = os.path.join(args.venv, "bin", "taplo")
        if os.path.exists(taplo):
            # The 1,000 paths, as a CI step would pass the changed files.
            tools.append(("taplo check", [taplo, "check", "--schema", "file://" + os.path.join(tree, "schema.json"), *rel]))
        else:
            print("taplo: not installed (run bench/validate-tree.sh)")
        cj = os.path.join(args.venv, "bin", "check-jsonschema")
        if not args.check_jsonschema:
            pass
        elif os.path.exists(cj):
            tools.append(("check-jsonschema", [cj, "--schemafile", "schema.json", *rel]))
        else:
            print("check-jsonschema: not installed (run bench/validate-tree.sh)")
        on = f" on {args.hosts} hosts" if args.hosts else ""
        print(f"{args.count} manifests{on}, {args.runs} runs of each tool after one warm-up, alternating, on {os.cpu_count()} cores")
        for name, argv in tools:  # warm the page cache
            run_once(name, argv, tree)
        samples = {name: [] for name, _ in tools}
        for _ in range(args.runs):
            for name, argv in tools:
                samples[name].append(run_once(name, argv, tree))
        medians = {}
        for name, _ in tools:
            wall, cpu = (statistics.median(x[i] for x in samples[name]) for i in range(2))
            peaks = [x[2] for x in samples[name] if x[2] is not None]
            rss = statistics.median(peaks) if peaks else None
            medians[name] = (wall, cpu, rss)
            shown = f"{rss:6.1f} MiB" if rss is not None else "n/a (no GNU time)"
            print(f"{name:<18} median wall {wall:6.3f} s   CPU {cpu:6.3f} s   peak RSS {shown}")
        if "taplo check" in medians:
            d, t = medians["deployctl validate"], medians["taplo check"]
            rss = f", peak RSS {d[2] / t[2]:.2f}" if d[2] and t[2] else ""
            print(f"deployctl / taplo: wall {d[0] / t[0]:.2f}, CPU {d[1] / t[1]:.2f}{rss} (below 1: deployctl ahead)")

if __name__ == "__main__":
    main()
