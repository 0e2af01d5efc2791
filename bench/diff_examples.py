#!/usr/bin/env python3
"""Benchmark `deployctl diff` over the examples tree: a scratch Git repository
holding examples/ at a base commit, and a work tree in which every manifest
that sets `max_batch_size` doubles it. Prints the median wall time, CPU time
and peak memory of `diff --format json`, and what it found.

Usage: bench/diff_examples.py DEPLOYCTL_BIN [--runs 9]
Run through bench/diff-examples.sh, which builds the release binary first.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GIT_ENV = {
    **os.environ,
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@deployctl.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@deployctl.invalid",
}


def git(repo: str, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, env=GIT_ENV, check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("deployctl")
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        repo = os.path.join(work, "repo")
        # The files this repository tracks there: not a model downloaded beside them.
        tracked = subprocess.run(
            ["git", "ls-files", "-z", "examples", "schemas"], cwd=ROOT, check=True, capture_output=True
        ).stdout.decode().split("\0")
        for rel in filter(None, tracked):
            os.makedirs(os.path.dirname(os.path.join(repo, rel)), exist_ok=True)
            shutil.copy(os.path.join(ROOT, rel), os.path.join(repo, rel))
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "base")
        edited = 0
        for folder, _, names in os.walk(os.path.join(repo, "examples")):
            for name in names:
                if not name.endswith(".toml"):
                    continue
                path = os.path.join(folder, name)
                text = open(path).read()
                new = re.sub(r"(?m)^max_batch_size = (\d+)", lambda m: f"max_batch_size = {int(m.group(1)) * 2}", text)
                if new != text:
                    open(path, "w").write(new)
                    edited += 1
        argv = [os.path.abspath(args.deployctl), "diff", "--base", "main", "--format", "json", "examples"]
        samples = []
        report = None
        for i in range(args.runs + 1):
            elapsed, cpu, peak, _, out = measure.run_once(argv, repo, ok=(0, 3), stdout=subprocess.PIPE)
            report = json.loads(out)
            if i > 0:  # the first warms the page cache
                samples.append((elapsed, cpu, peak or 0.0))
        wall, cpu, rss = (statistics.median(s[k] for s in samples) for k in range(3))
        summary = report["summary"]
        manifests = sum(summary[k] for k in ("added", "removed", "renamed", "changed", "unchanged"))
        print(f"{manifests} manifests under examples/, {edited} files edited (max_batch_size doubled), {args.runs} runs after one warm-up, on {os.cpu_count()} cores")
        print(f"deployctl diff     median wall {wall:6.3f} s   CPU {cpu:6.3f} s   peak RSS {rss:6.1f} MiB")
        print(f"found: {summary['changed']} changed, {summary['unchanged']} unchanged, {summary['stopped_fitting']} stopped fitting")


if __name__ == "__main__":
    main()
