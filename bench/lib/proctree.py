#!/usr/bin/env python3
import os, sys

def table():
    """pid -> (ppid, utime + stime, cutime + cstime) for every live process."""
    processes = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as handle:
                text = handle.read()
        except OSError:
            continue
        fields = text.rpartition(")")[2].split()
        # fields[0] is field 3 (state) of proc(5): ppid is 4, utime 14, stime 15, cutime 16, cstime 17.
        processes[int(name)] = (int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14]))
    return processes

def tree(processes, roots):
    children = {}
    for pid, (ppid, _, _) in processes.items():
        children.setdefault(ppid, []).append(pid)
    seen, queue = [], [root for root in roots if root in processes]
    while queue:
        pid = queue.pop(0)
        seen.append(pid)
        queue.extend(children.get(pid, []))
    return seen

command, roots = sys.argv[1], [int(argument) for argument in sys.argv[2:]]
if command == "threads":
    # One line per thread of the first root: tid, ticks (utime + stime), name (comm).
    for tid in os.listdir(f"/proc/{roots[0]}/task"):
        try:
            with open(f"/proc/{roots[0]}/task/{tid}/stat") as handle:
                text = handle.read()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")].replace(" ", "_")
        fields = text.rpartition(")")[2].split()
        print(tid, int(fields[11]) + int(fields[12]), name)
    sys.exit(0)
processes = table()
members = tree(processes, roots)
if command == "ticks":
    # Prints: total ticks of all trees, ticks of the first root's tree, the first root's own ticks.
    # Live processes count their own time plus that of children they already reaped, so time of a process that
    # exits during the measurement is not lost as long as its parent is in the tree.
    def cost(pid):
        return processes[pid][1] + processes[pid][2]
    first = tree(processes, roots[:1])
    own = processes[roots[0]][1] if roots[0] in processes else 0
    print(sum(cost(pid) for pid in members), sum(cost(pid) for pid in first), own)
elif command == "count":
    print(len(members))
else:
    print(" ".join(str(pid) for pid in members if pid not in roots))
