#!/usr/bin/env python3
"""Freeze and thaw of idle environments (issue 12 item 2): what a thaw costs and what 100 frozen environments use.

1. The thaw write alone: a `sleep` in a control group of its own, frozen and thawed THAW_CYCLES times; each
   write (open, write, close of `freezer.state` / `cgroup.freeze`, as ExecutionEnvironment does) is timed, once
   with no other group frozen and once with an empty group kept frozen beside it (what the server does on v1:
   see ControlGroups), and SIGCONT to a stopped process group for comparison (the fallback without groups).
2. End to end: `albatross serve` with the C runtime of bench/runtime (one environment), WARM_REQUESTS sequential
   keep-alive requests with `environments.freezeIdle` true and then false; the difference of the medians is the
   thaw as a client sees it (placement, thaw, delivery).
3. 100 idle environments over IDLE_SECONDS: a bash runtime whose environment keeps a background timer
   (`sleep 1` in a loop, as a function's background thread would), 100 of them started by 100 concurrent slow
   requests; then the CPU ticks of the runtimes' process trees over IDLE_SECONDS, frozen and not frozen.

Needs root and cgroup v1 or v2 (as the server does); ALBATROSS names the binary (default .build/release, else
.build/debug: the idle CPU of the runtimes does not depend on how the server was built). Every process it starts
is stopped by pid at the end; its control group is removed.
"""

import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THAW_CYCLES = int(os.environ.get("THAW_CYCLES", "2000"))
WARM_REQUESTS = int(os.environ.get("WARM_REQUESTS", "1000"))
IDLE_SECONDS = float(os.environ.get("IDLE_SECONDS", "60"))
ENVIRONMENTS = int(os.environ.get("ENVIRONMENTS", "100"))
TICK = os.sysconf("SC_CLK_TCK")
started = []


def own_freezer_directory():
    """(directory where a group may be made, 'v1'|'v2')."""
    lines = open("/proc/self/cgroup").read().splitlines()
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "freezer" in controllers.split(","):
            return "/sys/fs/cgroup/freezer" + path.rstrip("/"), "v1"
    for line in lines:
        if line.startswith("0::"):
            return "/sys/fs/cgroup" + line[3:].rstrip("/"), "v2"
    sys.exit("no freezer")


def write(path, text):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def thaw_micro():
    parent, version = own_freezer_directory()
    group = f"{parent}/albatross-bench-{os.getpid()}"
    pilot = f"{parent}/albatross-bench-{os.getpid()}-pilot"
    os.mkdir(group)
    os.mkdir(pilot)
    sleeper = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        write(f"{group}/cgroup.procs", str(sleeper.pid))
        state, frozen, thawed = (
            ("freezer.state", "FROZEN", "THAWED") if version == "v1" else ("cgroup.freeze", "1", "0"))
        for label, pilot_frozen in (("no other group frozen", False), ("an empty group kept frozen", True)):
            write(f"{pilot}/{state}", frozen if pilot_frozen else thawed)
            freezes, thaws = [], []
            for _ in range(THAW_CYCLES):
                t0 = time.perf_counter_ns()
                write(f"{group}/{state}", frozen)
                t1 = time.perf_counter_ns()
                write(f"{group}/{state}", thawed)
                t2 = time.perf_counter_ns()
                freezes.append((t1 - t0) / 1000)
                thaws.append((t2 - t1) / 1000)
            print(f"thaw write (cgroup {version}, {THAW_CYCLES} cycles, one process, {label}): median "
                  f"{statistics.median(thaws):.1f} us, p99 {percentile(thaws, 0.99):.1f} us; freeze write median "
                  f"{statistics.median(freezes):.1f} us, p99 {percentile(freezes, 0.99):.1f} us")
        write(f"{pilot}/{state}", thawed)
        conts = []
        for _ in range(THAW_CYCLES):
            os.killpg(sleeper.pid, signal.SIGSTOP)
            t0 = time.perf_counter_ns()
            os.killpg(sleeper.pid, signal.SIGCONT)
            conts.append((time.perf_counter_ns() - t0) / 1000)
        print(f"SIGCONT to a stopped process group: median {statistics.median(conts):.1f} us, "
              f"p99 {percentile(conts, 0.99):.1f} us")
    finally:
        sleeper.kill()
        sleeper.wait()
        for directory in (group, pilot):
            for _ in range(100):
                try:
                    os.rmdir(directory)
                    break
                except OSError:
                    time.sleep(0.01)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def albatross_binary():
    if os.environ.get("ALBATROSS"):
        return os.environ["ALBATROSS"]
    for mode in ("release", "debug"):
        path = f"{REPO}/.build/{mode}/albatross"
        if os.access(path, os.X_OK):
            return path
    sys.exit("build albatross first (swift build)")


def start(tmp, name, code, freeze, concurrency):
    port = free_port()
    config = f"{tmp}/{name}.yaml"
    with open(config, "w") as f:
        f.write(f"""dataDirectory: {tmp}/{name}-data
environments:
  idleTimeoutSeconds: 600
  shutdownGraceSeconds: 2
  freezeIdle: {"true" if freeze else "false"}
functions:
  - name: bench
    runtime: provided.al2023
    handler: bench.handler
    code: {code}
    memorySize: 128
    timeout: 30
    maximumConcurrency: {concurrency}
targetGroups:
  - name: bench-tg
    function: bench
listeners:
  - port: {port}
    bindAddress: 127.0.0.1
    protocol: HTTP
    defaultAction:
      forward: bench-tg
""")
    out = open(f"{tmp}/{name}.out", "w+")
    process = subprocess.Popen([albatross_binary(), "serve", "--config", config, "--quiet"], stdout=out,
                               stderr=subprocess.STDOUT)
    started.append(process)
    deadline = time.time() + 60
    while time.time() < deadline:
        out.seek(0)
        if "listening on" in out.read():
            return process, port
        if process.poll() is not None:
            break
        time.sleep(0.05)
    out.seek(0)
    sys.exit("albatross did not start:\n" + out.read())


def stop(process):
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    started.remove(process)


def comm(pid):
    try:
        return open(f"/proc/{pid}/comm").read().strip()
    except OSError:
        return ""


def runtimes_of(pid):
    """The server's runtime processes: its children but the sandboxes' bwrap (sandbox mode) and the control-group
    guard."""
    result = []
    for child in children(pid):
        try:
            command = open(f"/proc/{child}/cmdline", "rb").read()
        except OSError:
            continue
        if comm(child) != "bwrap" and b"albatross-guard" not in command:
            result.append(child)
    return result


def sandboxes_of(pid):
    """The sandboxes' bwrap processes (with their init below them), in sandbox mode."""
    return [child for child in children(pid) if comm(child) == "bwrap"]


def children(pid):
    result = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                result.append(int(entry))
    return result


def own_ticks(pid):
    """utime + stime of the process itself."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def tree_ticks(pid):
    """utime + stime + cutime + cstime of pid and its live descendants."""
    total = 0
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        total += sum(int(x) for x in fields[11:15])
    except OSError:
        return 0
    for child in children(pid):
        total += tree_ticks(child)
    return total


def warm_latency(tmp, freeze):
    code = f"{tmp}/c-function"
    process, port = start(tmp, f"warm-{freeze}", code, freeze, 1)
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port)
        times = []
        for i in range(WARM_REQUESTS + 50):
            t0 = time.perf_counter_ns()
            connection.request("GET", "/")
            response = connection.getresponse()
            body = response.read()
            elapsed = (time.perf_counter_ns() - t0) / 1000
            if response.status != 200 or body != b"hello":
                sys.exit(f"unexpected answer {response.status} {body!r}")
            if i >= 50:
                times.append(elapsed)
            # Long enough for the runtime to park in /next (and be frozen) before the next request.
            time.sleep(0.002)
        connection.close()
        return statistics.median(times), percentile(times, 0.99)
    finally:
        stop(process)


BASH_RUNTIME = r"""#!/bin/bash
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
# A background timer, as a function's background thread would have.
( while :; do sleep 1; done ) &
while true; do
  HEADERS="$(mktemp)"
  EVENT=$(curl -sS -D "$HEADERS" "$API/invocation/next") || exit 1
  ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  rm -f "$HEADERS"
  case "$EVENT" in *slow*) sleep 4 ;; esac
  curl -sS -o /dev/null --data-binary '{"statusCode":200,"body":"hello"}' "$API/invocation/$ID/response"
done
"""


def start_environments(process, port, count):
    """`count` environments of BASH_RUNTIME, started by concurrent slow requests (one environment each)."""
    import concurrent.futures

    def slow(_):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.request("GET", "/slow")
        response = connection.getresponse()
        response.read()
        connection.close()
        return response.status

    # Waves of concurrent slow requests until there are `count` (a request can land on an environment that has
    # just finished one).
    for _ in range(5):
        with concurrent.futures.ThreadPoolExecutor(count) as pool:
            statuses = list(pool.map(slow, range(count)))
        if statuses.count(200) != count:
            sys.exit(f"statuses: {statuses}")
        if len(runtimes_of(process.pid)) >= count:
            break


def idle_cpu(tmp, freeze):
    code = f"{tmp}/bash-function"
    process, port = start(tmp, f"idle-{freeze}", code, freeze, ENVIRONMENTS)
    try:
        start_environments(process, port, ENVIRONMENTS)
        time.sleep(2)
        runtimes = runtimes_of(process.pid)
        sandboxes = sandboxes_of(process.pid)
        frozen = 0
        for pid in runtimes:
            try:
                cgroup = open(f"/proc/{pid}/cgroup").read()
                state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            for line in cgroup.splitlines():
                _, controllers, path = line.split(":", 2)
                if "freezer" in controllers.split(","):
                    if open(f"/sys/fs/cgroup/freezer{path}/freezer.state").read().startswith("FROZEN"):
                        frozen += 1
                elif line.startswith("0::") and os.path.exists(f"/sys/fs/cgroup{path}/cgroup.events"):
                    if "frozen 1" in open(f"/sys/fs/cgroup{path}/cgroup.events").read():
                        frozen += 1
            if state == "T":
                frozen += 1  # the SIGSTOP fallback (no control groups)
        before = {pid: tree_ticks(pid) for pid in runtimes + sandboxes}
        server_before = own_ticks(process.pid)
        time.sleep(IDLE_SECONDS)
        after = {pid: tree_ticks(pid) for pid in runtimes + sandboxes}
        server_after = own_ticks(process.pid)
        runtime_ticks = sum(after[p] - before[p] for p in runtimes)
        sandbox_ticks = sum(after[p] - before[p] for p in sandboxes)
        return (len(runtimes), frozen, runtime_ticks / TICK, (server_after - server_before) / TICK, len(sandboxes),
                sandbox_ticks / TICK)
    finally:
        stop(process)


def write_functions(tmp):
    """`tmp`/c-function (the C runtime of bench/runtime, compiled) and `tmp`/bash-function (BASH_RUNTIME)."""
    os.makedirs(f"{tmp}/c-function")
    subprocess.run(["cc", "-O2", "-o", f"{tmp}/c-function/bootstrap", f"{REPO}/bench/runtime/bootstrap.c"],
                   check=True)
    os.makedirs(f"{tmp}/bash-function")
    with open(f"{tmp}/bash-function/bootstrap", "w") as f:
        f.write(BASH_RUNTIME)
    os.chmod(f"{tmp}/bash-function/bootstrap", 0o755)


def main():
    tmp = tempfile.mkdtemp(prefix="albatross-freeze-")
    try:
        write_functions(tmp)
        print(f"albatross: {albatross_binary()}, ALBATROSS_ISOLATION={os.environ.get('ALBATROSS_ISOLATION', '(unset: auto)')}")
        thaw_micro()
        on = warm_latency(tmp, True)
        off = warm_latency(tmp, False)
        print(f"warm request, one environment, {WARM_REQUESTS} sequential keep-alive requests: frozen between "
              f"requests median {on[0]:.0f} us (p99 {on[1]:.0f}), not frozen median {off[0]:.0f} us "
              f"(p99 {off[1]:.0f}): thaw as seen by the client {on[0] - off[0]:+.0f} us")
        for freeze in (True, False):
            count, frozen, runtime_cpu, server_cpu, sandboxes, sandbox_cpu = idle_cpu(tmp, freeze)
            print(f"{count} idle environments, freezeIdle {str(freeze).lower()}: {frozen} frozen; CPU of the runtimes' "
                  f"trees over {IDLE_SECONDS:.0f} s: {runtime_cpu:.2f} s; of {sandboxes} sandboxes' bwrap and init: "
                  f"{sandbox_cpu:.2f} s; albatross itself: {server_cpu:.2f} s")
    finally:
        for process in list(started):
            process.kill()
            process.wait()
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
