#!/usr/bin/env python3
"""The server's memory (issue 14's RSS targets, issue 12's memory per idle environment).

1. Idle RSS of `albatross serve` with the bundled example configuration (config/example.yaml, its ports moved to
   free ones, its data directory and certificates in a temporary directory): VmRSS and the proportional set size
   (Pss, from smaps_rollup) IDLE_WAIT seconds after start, and again after one request to each of its two
   functions (a bash and a Python environment started, then idle).
2. RSS over REQUESTS warm requests: the C runtime of bench/runtime behind one listener, `wrk -t2 -c32` in
   STEPS steps of REQUESTS/STEPS requests each (wrk's `-d` sized from the first step's rate), VmRSS after each
   step. Flat means the last step's RSS within a few MB of the first's.
3. Memory per idle environment on the platform's side: the bash runtime of bench/freeze.py, ENVIRONMENTS idle
   environments started by concurrent slow requests; the `albatross` process's own VmRSS and Pss (runtimes not
   counted) before the first and once they are all idle; the difference divided by their number.

ALBATROSS names the binary (default .build/release). Every process it starts is stopped by pid at the end.
"""

import http.client
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import freeze  # noqa: E402  (its server start, stop and process-tree helpers)

REPO = freeze.REPO
REQUESTS = int(os.environ.get("REQUESTS", "1000000"))
STEPS = int(os.environ.get("STEPS", "10"))
ENVIRONMENTS = int(os.environ.get("ENVIRONMENTS", "100"))
IDLE_WAIT = float(os.environ.get("IDLE_WAIT", "5"))


def memory_kb(pid):
    """(VmRSS, Pss) of one process in kB."""
    rss = pss = 0
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    for line in open(f"/proc/{pid}/smaps_rollup"):
        if line.startswith("Pss:"):
            pss = int(line.split()[1])
    return rss, pss


def mb(kb):
    return f"{kb / 1024:.1f} MB"


def breakdown(pid, top=10):
    """Where a process's RSS is: anonymous memory (heap, stacks) against each mapped file, largest first."""
    by_name, name = {}, "[anonymous]"
    for line in open(f"/proc/{pid}/smaps"):
        fields = line.split()
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            name = fields[5] if len(fields) > 5 and fields[5].startswith("/") else "[anonymous]"
        elif fields[0] == "Rss:":
            by_name[name] = by_name.get(name, 0) + int(fields[1])
    ranked = sorted(by_name.items(), key=lambda item: -item[1])[:top]
    return ", ".join(f"{os.path.basename(name) or name} {mb(kb)}" for name, kb in ranked)


def example_idle(tmp):
    ports = {port: freeze.free_port() for port in (9464, 8080, 8443, 8081)}
    text = open(f"{REPO}/config/example.yaml").read()
    for old, new in ports.items():
        text = text.replace(f"port: {old}", f"port: {new}").replace(f'port: "{old}"', f'port: "{new}"')
    text = text.replace("dataDirectory: ./data", f"dataDirectory: {tmp}/example-data")
    text = text.replace("./functions/", f"{REPO}/config/functions/").replace("../.venv/", f"{REPO}/.venv/")
    text = text.replace("./certs/", f"{tmp}/certs/")
    subprocess.run([freeze.albatross_binary(), "cert", "--dir", f"{tmp}/certs", "--host", "localhost", "--host",
                    "127.0.0.1"], check=True, stdout=subprocess.DEVNULL)
    config = f"{tmp}/example.yaml"
    with open(config, "w") as f:
        f.write(text)
    out = open(f"{tmp}/example.out", "w+")
    process = subprocess.Popen([freeze.albatross_binary(), "serve", "--config", config, "--quiet"], stdout=out,
                               stderr=subprocess.STDOUT)
    freeze.started.append(process)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and len(re.findall("listening on", open(out.name).read())) < 3:
            if process.poll() is not None:
                sys.exit("albatross did not start:\n" + open(out.name).read())
            time.sleep(0.05)
        time.sleep(IDLE_WAIT)
        started = memory_kb(process.pid)
        for path in ("/echo", "/python?name=Ada"):
            connection = http.client.HTTPConnection("127.0.0.1", ports[8080], timeout=30)
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            connection.close()
            if response.status != 200:
                sys.exit(f"GET {path}: {response.status}")
        time.sleep(IDLE_WAIT)
        served = memory_kb(process.pid)
        print(f"  RSS by mapping: {breakdown(process.pid)}")
        print(f"example configuration, idle {IDLE_WAIT:.0f} s after start: VmRSS {mb(started[0])}, Pss "
              f"{mb(started[1])}; after one request to each function and {IDLE_WAIT:.0f} s idle: VmRSS "
              f"{mb(served[0])}, Pss {mb(served[1])} (target: 30 MB)")
    finally:
        freeze.stop(process)


def rss_over_requests(tmp):
    process, port = freeze.start(tmp, "flat", f"{tmp}/c-function", True, 64)
    try:
        step = REQUESTS // STEPS
        url = f"http://127.0.0.1:{port}/"
        subprocess.run(["wrk", "-t2", "-c32", "-d2s", url], check=True, stdout=subprocess.DEVNULL)
        rates, rss = [], [memory_kb(process.pid)[0]]
        duration = 5.0
        done = 0
        for index in range(STEPS):
            output = subprocess.run(["wrk", "-t2", "-c32", f"-d{duration:.0f}s", url], check=True,
                                    capture_output=True, text=True).stdout
            count = int(re.search(r"(\d+) requests in", output).group(1))
            if "Non-2xx" in output or "Socket errors" in output:
                sys.exit("errors under load:\n" + output)
            done += count
            rates.append(count / duration)
            if index == 0:
                duration = max(1.0, step / rates[0])
            rss.append(memory_kb(process.pid)[0])
        print(f"RSS over {done} warm requests (wrk -t2 -c32, {STEPS} steps, about {rates[-1]:.0f} requests/s): "
              + ", ".join(mb(value) for value in rss) + f"; last step against first: {mb(rss[-1] - rss[1])}")
    finally:
        freeze.stop(process)


def per_environment(tmp):
    process, port = freeze.start(tmp, "per-env", f"{tmp}/bash-function", True, ENVIRONMENTS)
    try:
        time.sleep(IDLE_WAIT)
        before = memory_kb(process.pid)
        freeze.start_environments(process, port, ENVIRONMENTS)
        time.sleep(IDLE_WAIT)
        count = len(freeze.children(process.pid))
        after = memory_kb(process.pid)
        print(f"{count} idle environments: albatross VmRSS {mb(before[0])} -> {mb(after[0])}, Pss {mb(before[1])} "
              f"-> {mb(after[1])}; per environment {(after[0] - before[0]) / count:.0f} kB RSS, "
              f"{(after[1] - before[1]) / count:.0f} kB Pss (the platform's side: runtimes not counted)")
    finally:
        freeze.stop(process)


def main():
    tmp = tempfile.mkdtemp(prefix="albatross-memory-")
    try:
        freeze.write_functions(tmp)
        print(f"albatross: {freeze.albatross_binary()}")
        example_idle(tmp)
        per_environment(tmp)
        rss_over_requests(tmp)
    finally:
        for process in list(freeze.started):
            process.kill()
            process.wait()
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
