"""One timed run of a command: wall seconds, CPU seconds and peak RSS.

Peak RSS comes from GNU time (`/usr/bin/time -f %M`), not from `wait4`: a
child forked from Python carries the interpreter's resident pages until it
execs, and the kernel's peak for that child never drops below them (every
tool then read about 15 MiB). GNU time's own small fork is what execs the
tool, so its figure is the tool's. Without GNU time the RSS is `None`.
"""
import os
import shutil
import subprocess
import tempfile
import time

GNU_TIME = shutil.which("time", path="/usr/bin:/bin")


def run_once(argv: list, cwd: str, ok: tuple = (0,), stdout=subprocess.DEVNULL) -> tuple:
    """(wall s, CPU s, peak RSS MiB or None, exit code, captured stdout or None).
    Exits the bench with the tool's stderr when its code is not in `ok`."""
    with tempfile.TemporaryFile() as log, tempfile.NamedTemporaryFile("r") as rss:
        command = [GNU_TIME, "-f", "%M", "-o", rss.name, *argv] if GNU_TIME else argv
        start = time.perf_counter()
        # stderr to a file: a pipe read only after the exit would fill and
        # block a tool that logs much (taplo logs each file).
        proc = subprocess.Popen(command, cwd=cwd, stdout=stdout, stderr=log)
        out = proc.stdout.read() if proc.stdout else None
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        if code not in ok:
            log.seek(0)
            raise SystemExit(f"{argv[0]} exited {code}:\n{log.read().decode(errors='replace')[-2000:]}")
        peak = None
        if GNU_TIME:
            text = rss.read().strip().splitlines()
            peak = int(text[-1]) / 1024 if text and text[-1].isdigit() else None
    return elapsed, usage.ru_utime + usage.ru_stime, peak, code, out
