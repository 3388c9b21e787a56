"""Run a command and measure its whole process tree (Linux /proc): wall time, CPU seconds per
process, the peak RSS of the largest process and the peak of the tree's summed PSS (proportional set
size: pages shared between processes, such as a forkserver's imports, are counted once in all).

    python bench/proctree.py -- promptops eval ...

``/usr/bin/time`` only sees the processes it waits for, which misses workers forked by a forkserver;
this polls every 100 ms instead (CPU seconds are as of the last poll, so a short run can show up
to 0.1 s less than it used); the wall time is exact, from a thread waiting on the process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field

TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class TreeStats:
    wall_s: float = 0.0
    returncode: int = 0
    stdout: str = ""
    stderr: str = ""
    peak_rss_mb: float = 0.0          # the largest single process
    peak_pss_mb: float = 0.0          # the whole tree, shared pages counted once
    cpu_s: dict[int, tuple[str, float]] = field(default_factory=dict)  # pid -> (name, seconds)
    root_pid: int = 0                 # the command's own process (the others are its descendants)

    @property
    def total_cpu_s(self) -> float:
        return sum(s for _, s in self.cpu_s.values())


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def _tree(root: int) -> list[int]:
    kids, out, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def _sample(pid: int) -> tuple[str, float, float, float] | None:
    """name, cpu seconds, rss MB, pss MB"""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        with open(f"/proc/{pid}/smaps_rollup") as f:
            rollup = f.read()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICK
    mem = {}
    for line in rollup.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2 and parts[0].endswith(":"):
            mem[parts[0][:-1]] = int(parts[1]) / 1024
    return cmd[:80], cpu, mem.get("Rss", 0.0), mem.get("Pss", 0.0)


def run(cmd: list[str], *, cwd=None, env=None, interval: float = 0.1) -> TreeStats:
    """Run ``cmd``; the wall time comes from a thread waiting on the process (exact), the memory and
    CPU from polling /proc every ``interval`` seconds until it ends."""
    import threading

    stats = TreeStats()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stats.root_pid = proc.pid
    out: dict[str, str] = {}
    ended = threading.Event()
    end: list[float] = []

    def waiter() -> None:
        proc.wait()
        end.append(time.perf_counter())
        ended.set()

    threads = [threading.Thread(target=lambda n, s: out.__setitem__(n, s.read()), args=(n, s))
               for n, s in (("stdout", proc.stdout), ("stderr", proc.stderr))]
    threads.append(threading.Thread(target=waiter))
    for t in threads:
        t.start()
    while not ended.is_set():
        pss = 0.0
        for pid in _tree(proc.pid):
            sample = _sample(pid)
            if sample is None:
                continue
            name, cpu, rss, p = sample
            stats.cpu_s[pid] = (name, cpu)
            stats.peak_rss_mb = max(stats.peak_rss_mb, rss)
            pss += p
        stats.peak_pss_mb = max(stats.peak_pss_mb, pss)
        ended.wait(interval)
    for t in threads:
        t.join()
    stats.wall_s = end[0] - start
    stats.returncode = proc.returncode
    stats.stdout, stats.stderr = out.get("stdout", ""), out.get("stderr", "")
    return stats


if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] == "--":
        args = args[1:]
    s = run(args)
    sys.stdout.write(s.stdout)
    sys.stderr.write(s.stderr)
    print(f"wall {s.wall_s:.2f} s, cpu {s.total_cpu_s:.2f} s, peak RSS (largest process) {s.peak_rss_mb:.0f} MB, "
          f"peak PSS (tree) {s.peak_pss_mb:.0f} MB", file=sys.stderr)
    for pid, (name, cpu) in sorted(s.cpu_s.items()):
        print(f"  {pid:>7} {cpu:6.2f} s  {name}", file=sys.stderr)
    sys.exit(s.returncode)
