"""A server's CPU time, read from /proc: the process and every live descendant (uvicorn's workers),
user plus system time. Sampled before and after a measurement, it gives the server's CPU per call
whatever else the machine is doing, which throughput alone cannot on a shared machine."""
from __future__ import annotations

import os

_TICK = 1.0 / os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of one process, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: fields start after the last ')'
    fields = text[text.rindex(b")") + 2:].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) * _TICK


def cpu_seconds(pids: list[int]) -> float:
    """CPU seconds used so far by these processes and all their live descendants."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None:
                stats[int(entry)] = stat
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, seen, todo = 0.0, set(), list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in stats:
            continue
        seen.add(pid)
        total += stats[pid][1]
        todo += children.get(pid, [])
    return total


def pids_arg(text: str) -> list[int]:
    """`--server-pid 1234` or `--server-pid 1234,1240`."""
    return [int(p) for p in text.split(",") if p.strip()]
