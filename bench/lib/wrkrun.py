"""Reads what bench/lib/common.sh's run_wrk leaves behind, for the reports of bench/run.sh and bench/tls.sh."""
import re
import statistics
import sys


def wrk_run(tmp, name, clock_ticks):
    """One measured wrk run: wrk's BENCH line plus the server CPU of the process trees, per request.

    "front" is the process that terminates the client's HTTP: albatross alone (runs whose name starts with
    "albatross"), or nginx's master + worker (the first root's tree). "back" is what produces the answer: the
    runtime processes, or the upstream server."""
    text = open(f"{tmp}/{name}.wrk").read()
    match = re.search(r"^BENCH (.*)$", text, re.M)
    if not match:
        sys.exit(f"bench: no summary in {name}'s wrk output:\n{text}")
    values = {key: int(value) for key, value in (pair.split("=") for pair in match.group(1).split())}
    total, first_tree, own = (int(field) / clock_ticks for field in open(f"{tmp}/{name}.cpu").read().split())
    requests = max(values["requests"], 1)
    values["cpu_s"] = total
    values["front_s"] = own if name.startswith("albatross") else first_tree
    values["back_s"] = total - values["front_s"]
    values["rps"] = values["requests"] / (values["duration_us"] / 1e6)
    values["us"] = total / requests * 1e6
    values["front_us"] = values["front_s"] / requests * 1e6
    values["back_us"] = values["back_s"] / requests * 1e6
    values["errors"] = sum(values[key] for key in ("connect", "read", "write", "timeout", "status"))
    values["text"] = text
    return values


def thread_seconds(tmp, name, clock_ticks):
    """CPU seconds per thread name of the run's first root during the measured run: {name: seconds}."""
    def load(suffix):
        table = {}
        for line in open(f"{tmp}/{name}.threads-{suffix}"):
            tid, ticks, comm = line.split()
            table[tid] = (int(ticks), comm)
        return table
    before, after = load("before"), load("after")
    by_name = {}
    for tid, (ticks, comm) in after.items():
        by_name[comm] = by_name.get(comm, 0) + (ticks - before.get(tid, (0, comm))[0]) / clock_ticks
    return by_name


def ratio(a, b):
    return f"{a / b:.2f}" if b else "n/a"


def spread(values, digits=1):
    """"median [min-max]" of a list of numbers."""
    return (f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}-{max(values):.{digits}f}]"
            if values else "n/a")


def decide(differences):
    """Per-round albatross-minus-nginx differences -> (met, agreeing rounds, rounds). The median decides; more than
    half of the rounds must agree with it, or the answer is None: the machine's noise is larger than the gap."""
    met = statistics.median(differences) <= 0
    agreeing = sum(1 for d in differences if (d <= 0) == met)
    return (met if agreeing * 2 > len(differences) else None, agreeing, len(differences))
