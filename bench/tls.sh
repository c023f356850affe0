#!/usr/bin/env bash
# Albatross HTTPS benchmark: TLS handshakes and keep-alive HTTPS requests, Albatross against nginx, in one run.
#
#   bench/tls.sh
#
# Starts, on 127.0.0.1 only:
#   - albatross serve with two listeners forwarding to one target group of the native `provided` function
#     bench/runtime/bootstrap.c: one HTTPS listener (ELBSecurityPolicy-TLS13-1-2-2021-06) and one HTTP listener;
#   - nginx (Debian package, one worker) with two server blocks, one `listen ... ssl` and one plain, both proxying
#     with an upstream keepalive pool to bench/upstream/server.c. TLS 1.2 and 1.3, `ssl_session_cache
#     shared:SSL:10m`, session tickets on, the policy's cipher lists in the same server order as Albatross.
# Both servers use the same ECDSA P-256 certificate and key, made by `albatross cert`.
#
# Then it measures:
#   1. full handshakes per server CPU-second, TLS 1.3 and TLS 1.2 (bench/tls/handshake.c: one connection at a time,
#      no request, so Albatross invokes no function; server CPU is the albatross process alone, or nginx's master
#      and worker);
#   2. resumed handshakes per server CPU-second: TLS 1.3 tickets, TLS 1.2 tickets, TLS 1.2 session IDs (cache);
#   3. keep-alive requests/s over HTTPS and over plain HTTP with wrk, and server CPU per request (whole process
#      trees, as bench/run.sh counts them), in ROUNDS rounds alternating the order; then HTTPS minus HTTP.
# It prints tables with albatross/nginx ratios and whether the targets hold. Everything it starts is killed by pid
# on exit. See the "HTTPS" section of bench/README.md.
#
# Environment (defaults in brackets):
#   HANDSHAKE_SECONDS [2]  length of each handshake run (5 kinds x 2 servers per round)
#   HANDSHAKE_ROUNDS [2]   rounds of handshake runs; which server goes first flips every run
#   WRK_THREADS [2]  WRK_CONNECTIONS [32]  DURATION [5s]  WARMUP [1s]   wrk parameters (4 runs per round)
#   ROUNDS [4]             rounds of the four wrk runs; the order flips every round
#   MAX_CONCURRENCY [64]   maximumConcurrency of the benchmark function
#   SKIP_BUILD [0]         1: use the existing .build/release/albatross without running swift build
#   SKIP_INSTALL [0]       1: do not try to install nginx and wrk
#   KEEP_TMP [0]           1: keep the temporary directory (configurations, logs, raw outputs) for inspection
set -euo pipefail

HANDSHAKE_SECONDS=${HANDSHAKE_SECONDS:-2}
HANDSHAKE_ROUNDS=${HANDSHAKE_ROUNDS:-2}
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNECTIONS=${WRK_CONNECTIONS:-32}
DURATION=${DURATION:-5s}
WARMUP=${WARMUP:-1s}
ROUNDS=${ROUNDS:-4}
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ensure_tools
bench_setup albatross-tlsbench
build_albatross
compile_backends
cc -O2 -Wall -o "$TMP/handshake" "$BENCH/tls/handshake.c" -lssl -lcrypto ||
    die "compiling bench/tls/handshake.c failed (it needs the OpenSSL headers: apt-get install libssl-dev)"

# One ECDSA P-256 certificate for both servers, from a local authority.
"$ALBATROSS" cert --dir "$TMP/certs" --host localhost --host 127.0.0.1 >"$TMP/cert.out" 2>&1 ||
    { cat "$TMP/cert.out" >&2; die "albatross cert failed"; }
CA="$TMP/certs/ca.pem"
CERT="$TMP/certs/localhost.pem"
KEY="$TMP/certs/localhost-key.pem"
for file in "$CA" "$CERT" "$KEY"; do [ -s "$file" ] || die "albatross cert did not write $file"; done
KEY_TYPE=$(openssl x509 -in "$CERT" -noout -text 2>/dev/null | grep -m1 -E 'Public Key Algorithm|ASN1 OID|NIST CURVE' |
    sed 's/^ *//' || true)

# ---------------------------------------------------------------------------------------------------------------
# Albatross: one HTTPS and one HTTP listener, same target group
# ---------------------------------------------------------------------------------------------------------------
ALB_TLS_PORT=$(free_port)
ALB_PORT=$(free_port)
start_albatross albatross "  - port: $ALB_TLS_PORT
    bindAddress: 127.0.0.1
    protocol: HTTPS
    certificates:
      - {certificate: $CERT, privateKey: $KEY}
    sslPolicy: ELBSecurityPolicy-TLS13-1-2-2021-06
    defaultAction:
      forward: bench-tg
$(http_listener "$ALB_PORT")" 2

# ---------------------------------------------------------------------------------------------------------------
# Upstream and nginx: one ssl and one plain server block, same upstream
# ---------------------------------------------------------------------------------------------------------------
start_upstream
NGINX_TLS_PORT=$(free_port)
NGINX_PORT=$(free_port)
# The cipher lists and groups are Albatross's for ELBSecurityPolicy-TLS13-1-2-2021-06, in the same server order.
start_nginx "listen 127.0.0.1:$NGINX_TLS_PORT ssl;
        ssl_certificate $CERT;
        ssl_certificate_key $KEY;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES256-SHA384;
        ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256;
        ssl_prefer_server_ciphers on;
        ssl_ecdh_curve X25519:prime256v1:secp384r1;
        ssl_session_cache shared:SSL:10m;
        ssl_session_tickets on;" \
    "listen 127.0.0.1:$NGINX_PORT;"

# ---------------------------------------------------------------------------------------------------------------
# Sanity: each of the four endpoints answers 200 "hello"; the HTTPS ones with the certificate verified
# ---------------------------------------------------------------------------------------------------------------
check_get() { # check_get URL PORT
    local result
    result=$(curl -s --max-time 30 --cacert "$CA" --resolve "localhost:$2:127.0.0.1" -o "$TMP/curl.body" \
        -w '%{http_code}' "$1") || die "curl $1 failed (exit $?)"
    [ "$result" = 200 ] && [ "$(cat "$TMP/curl.body")" = hello ] ||
        die "unexpected answer from $1: $result $(head -c 200 "$TMP/curl.body")"
}
check_get "https://localhost:$ALB_TLS_PORT/" "$ALB_TLS_PORT"
check_get "http://localhost:$ALB_PORT/" "$ALB_PORT"
check_get "https://localhost:$NGINX_TLS_PORT/" "$NGINX_TLS_PORT"
check_get "http://localhost:$NGINX_PORT/" "$NGINX_PORT"

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------------------------------------------
# 1 and 2: handshakes per server CPU-second
# ---------------------------------------------------------------------------------------------------------------
# run_handshakes SERVER PORT MODE VERSION ROUND: leaves "$TMP/hs-SERVER-MODE-VERSION-ROUND.out" and ".cpu"
# (server ticks).
run_handshakes() {
    local server=$1 port=$2 mode=$3 version=$4 round=$5 name before after
    name="hs-$server-$mode-$version-$round"
    log "$server: $mode handshakes, TLS $version, ${HANDSHAKE_SECONDS}s (round $round)"
    before=$(server_ticks "$server")
    "$TMP/handshake" 127.0.0.1 "$port" "$HANDSHAKE_SECONDS" "$mode" "$version" "$CA" localhost \
        >"$TMP/$name.out" 2>"$TMP/$name.err" || { cat "$TMP/$name.err" >&2; die "the handshake client failed"; }
    after=$(server_ticks "$server")
    echo $((after - before)) >"$TMP/$name.cpu"
}

server_ticks() { # server_ticks albatross|nginx: the ticks handshakes are charged with
    local ticks
    if [ "$1" = albatross ]; then
        read -r -a ticks <<<"$(python3 "$BENCH/lib/proctree.py" ticks "$ALB_PID")"
        echo "${ticks[2]}" # the albatross process alone: no function runs without a request
    else
        read -r -a ticks <<<"$(python3 "$BENCH/lib/proctree.py" ticks "$NGINX_PID")"
        echo "${ticks[0]}" # master + worker
    fi
}

HANDSHAKE_KINDS=("new 1.3" "ticket 1.3" "new 1.2" "ticket 1.2" "id 1.2")
flip=0
for round in $(seq "$HANDSHAKE_ROUNDS"); do
    for kind in "${HANDSHAKE_KINDS[@]}"; do
        read -r mode version <<<"$kind"
        if [ $flip = 0 ]; then
            run_handshakes albatross "$ALB_TLS_PORT" "$mode" "$version" "$round"
            run_handshakes nginx "$NGINX_TLS_PORT" "$mode" "$version" "$round"
        else
            run_handshakes nginx "$NGINX_TLS_PORT" "$mode" "$version" "$round"
            run_handshakes albatross "$ALB_TLS_PORT" "$mode" "$version" "$round"
        fi
        flip=$((1 - flip))
    done
    [ $((${#HANDSHAKE_KINDS[@]} % 2)) = 0 ] || flip=$((1 - flip)) # the next round starts with the other server
done

# ---------------------------------------------------------------------------------------------------------------
# 3: keep-alive requests over HTTPS and HTTP
# ---------------------------------------------------------------------------------------------------------------
wrk_pair() { # wrk_pair SCHEME ROUND: nginx and albatross over one scheme
    local scheme=$1 round=$2
    if [ "$scheme" = https ]; then
        run_wrk "nginx-https-$round" "https://127.0.0.1:$NGINX_TLS_PORT/" "$NGINX_PID" "$UP_PID"
        run_wrk "albatross-https-$round" "https://127.0.0.1:$ALB_TLS_PORT/" "$ALB_PID"
    else
        run_wrk "nginx-http-$round" "http://127.0.0.1:$NGINX_PORT/" "$NGINX_PID" "$UP_PID"
        run_wrk "albatross-http-$round" "http://127.0.0.1:$ALB_PORT/" "$ALB_PID"
    fi
}

# One longer warm-up per server first: Albatross starts its execution environments here.
log "warm-up: 3s of HTTP against each server"
wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d3s "http://127.0.0.1:$NGINX_PORT/" >"$TMP/nginx-warmup.wrk" 2>&1 ||
    { cat "$TMP/nginx-warmup.wrk" >&2; die "wrk warm-up against nginx failed"; }
wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d3s "http://127.0.0.1:$ALB_PORT/" >"$TMP/albatross-warmup.wrk" 2>&1 ||
    { cat "$TMP/albatross-warmup.wrk" >&2; die "wrk warm-up against albatross failed"; }
for round in $(seq "$ROUNDS"); do
    if [ $((round % 2)) = 1 ]; then
        wrk_pair http "$round"
        wrk_pair https "$round"
    else
        wrk_pair https "$round"
        wrk_pair http "$round"
    fi
done
ENVIRONMENTS=$(( $(python3 "$BENCH/lib/proctree.py" count "$ALB_PID") - 1 ))

for pid in "$ALB_PID" "$NGINX_PID" "$UP_PID"; do
    kill -0 "$pid" 2>/dev/null || log "WARNING: process $pid died during the benchmark"
done

# ---------------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------------
echo
REVISION=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')
NGINX_VERSION=$(nginx -v 2>&1 | sed 's/.*: //')
echo "Machine: $(nproc) CPU(s), $(uname -sr); load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "albatross $REVISION; $NGINX_VERSION; $(openssl version 2>/dev/null || echo 'openssl ?'); certificate: $KEY_TYPE"
python3 - "$BENCH/lib" "$TMP" "$CLK_TCK" "$ENVIRONMENTS" "$ROUNDS" "$HANDSHAKE_SECONDS" "$HANDSHAKE_ROUNDS" \
    "$WRK_THREADS" "$WRK_CONNECTIONS" "$DURATION" "$WARMUP" <<'PY'
import re, statistics, sys

sys.path.insert(0, sys.argv.pop(1))
from wrkrun import decide, ratio, wrk_run

tmp, clock_ticks, environments, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
handshake_seconds, handshake_rounds = sys.argv[5], int(sys.argv[6])
threads, connections, duration, warmup = sys.argv[7:11]
verdicts, warnings = [], []

# ---- handshakes ------------------------------------------------------------------------------------------------
def handshake_round(server, mode, version, round):
    name = f"hs-{server}-{mode}-{version}-{round}"
    text = open(f"{tmp}/{name}.out").read()
    match = re.search(r"^HANDSHAKES (.*)$", text, re.M)
    if not match:
        sys.exit(f"bench: no summary from the handshake client against {server}:\n{text}")
    values = dict(pair.split("=", 1) for pair in match.group(1).split())
    result = {key: float(values[key]) for key in ("ok", "resumed", "failed", "no_ticket", "close_notify", "seconds")}
    result["negotiated"] = {f"{values.get('protocol', '?')} {values.get('cipher', '?')}"}
    result["cpu_s"] = int(open(f"{tmp}/{name}.cpu").read()) / clock_ticks
    result["stderr"] = open(f"{tmp}/{name}.err").read().strip()
    return result

def us_each(values):
    return values["cpu_s"] / values["ok"] * 1e6 if values["ok"] and values["cpu_s"] else float("nan")

def handshakes(server, mode, version):
    """The rounds added up; "rounds" keeps each round's values."""
    each = [handshake_round(server, mode, version, r) for r in range(1, handshake_rounds + 1)]
    result = {key: sum(values[key] for values in each)
              for key in ("ok", "resumed", "failed", "no_ticket", "close_notify", "seconds", "cpu_s")}
    result["negotiated"] = set().union(*(values["negotiated"] for values in each))
    result["stderr"] = "\n".join(values["stderr"] for values in each if values["stderr"])
    result["per_cpu_s"] = result["ok"] / result["cpu_s"] if result["cpu_s"] else float("inf")
    result["us_each"] = us_each(result)
    result["rounds"] = each
    return result

kinds = [("new", "1.3", "full, TLS 1.3"), ("ticket", "1.3", "resumed (ticket), TLS 1.3"),
         ("new", "1.2", "full, TLS 1.2"), ("ticket", "1.2", "resumed (ticket), TLS 1.2"),
         ("id", "1.2", "resumed (session ID), TLS 1.2")]
print()
print(f"Handshakes: one connection at a time for {handshake_seconds}s per run, {handshake_rounds} round(s) added up,"
      " no request; server CPU from /proc/<pid>/stat")
print("  (albatross: the albatross process alone; nginx: master + worker). Client: bench/tls/handshake.c, X25519,")
print("  TLS_AES_128_GCM_SHA256 / ECDHE-ECDSA-AES128-GCM-SHA256, certificate verified, waits for the TLS 1.3 ticket.")
header = (f"| {'handshake':<30} | {'server':<9} | {'done':>6} | {'resumed':>7} | {'failed':>6} | {'per s':>6} "
          f"| {'CPU us each':>11} | {'per CPU-s':>9} | {'A/N CPU each':>12} | {'A/N per round':>13} |")
print(header)
print("|" + "|".join("-" * (len(cell) + 0) for cell in header.split("|")[1:-1]) + "|")
for mode, version, label in kinds:
    a, n = handshakes("albatross", mode, version), handshakes("nginx", mode, version)
    per_round = " ".join(f"{us_each(x) / us_each(y):.2f}" for x, y in zip(a["rounds"], n["rounds"]))
    for server, values in (("albatross", a), ("nginx", n)):
        cost = values["us_each"] / n["us_each"] if server == "albatross" and n["us_each"] else None
        print(f"| {label if server == 'albatross' else '':<30} | {server:<9} | {values['ok']:>6.0f} "
              f"| {values['resumed']:>7.0f} | {values['failed']:>6.0f} | {values['ok'] / values['seconds']:>6.0f} "
              f"| {values['us_each']:>11.0f} | {values['per_cpu_s']:>9.0f} "
              f"| {(f'{cost:.2f}' if cost else ''):>12} | {(per_round if cost else ''):>13} |")
        if values["failed"]:
            warnings.append(f"{server} {label}: {values['failed']:.0f} failed handshakes: {values['stderr'][:300]}")
        if mode != "new" and values["resumed"] < values["ok"] - handshake_rounds:
            warnings.append(f"{server} {label}: only {values['resumed']:.0f} of {values['ok']:.0f} resumed")
        if mode == "new" and values["resumed"]:
            warnings.append(f"{server} {label}: {values['resumed']:.0f} resumed although no session was offered")
        if version == "1.3" and values["no_ticket"]:
            warnings.append(f"{server} {label}: {values['no_ticket']:.0f} connections got no ticket within 1 s")
    negotiated = a["negotiated"] | n["negotiated"]
    if len(negotiated) != 1:
        warnings.append(f"{label}: the servers negotiated different parameters: {sorted(negotiated)}")
    ratios = [us_each(x) / us_each(y) for x, y in zip(a["rounds"], n["rounds"])]
    met = decide([r - 1 for r in ratios])
    verdicts.append((f"handshake CPU, {label}: albatross <= nginx", met,
                     f"{a['us_each']:.0f} us vs {n['us_each']:.0f} us per handshake; ratio per round {per_round}"))
closes = {server: (sum(handshakes(server, m, v)["close_notify"] for m, v, _ in kinds),
                   sum(handshakes(server, m, v)["ok"] for m, v, _ in kinds)) for server in ("albatross", "nginx")}
print("  connections the server closed with its own close_notify (after the client's): "
      + ", ".join(f"{server} {c:.0f}/{t:.0f}" for server, (c, t) in closes.items()))

# ---- keep-alive requests ---------------------------------------------------------------------------------------
def wrk(name):
    values = wrk_run(tmp, name, clock_ticks)
    if values["errors"]:
        warnings.append(f"{name}: wrk errors (c/r/w/t/status) {values['connect']}/{values['read']}/"
                        f"{values['write']}/{values['timeout']}/{values['status']}")
    return values

runs = {(server, scheme, r): wrk(f"{server}-{scheme}-{r}")
        for server in ("albatross", "nginx") for scheme in ("http", "https") for r in range(1, rounds + 1)}

def mean(server, scheme, key):
    return sum(runs[(server, scheme, r)][key] for r in range(1, rounds + 1)) / rounds

def deltas(server, key):
    """HTTPS minus HTTP per round: the two runs of a round are next to each other in time."""
    return [runs[(server, "https", r)][key] - runs[(server, "http", r)][key] for r in range(1, rounds + 1)]

print()
print(f"Keep-alive requests: wrk -t{threads} -c{connections} -d{duration} after a {warmup} warm-up, {rounds} round(s),"
      " order flipped each round")
print("  server CPU per request over whole trees: albatross + runtimes | nginx master + worker + upstream;"
      " front = albatross | nginx master + worker")
print(f"| {'run':<22} | {'requests/s':>10} | {'p99 ms':>7} | {'CPU us/req':>10} | {'front us/req':>12} | {'errors':>6} |")
print(f"|{'-' * 24}|{'-' * 12}|{'-' * 9}|{'-' * 12}|{'-' * 14}|{'-' * 8}|")
for (server, scheme, r), values in runs.items():
    print(f"| {f'{server} {scheme} #{r}':<22} | {values['rps']:>10.0f} | {values['p99_us'] / 1000:>7.2f} "
          f"| {values['us']:>10.1f} | {values['front_us']:>12.1f} | {values['errors']:>6} |")

print()
print(f"| {'mean of the rounds (deltas: median)':<34} | {'albatross':>10} | {'nginx':>10} | {'albatross/nginx':>15} |")
print(f"|{'-' * 36}|{'-' * 12}|{'-' * 12}|{'-' * 17}|")
rows = []
for scheme in ("http", "https"):
    a, n = mean("albatross", scheme, "rps"), mean("nginx", scheme, "rps")
    rows.append((f"{scheme.upper()} requests/s", f"{a:.0f}", f"{n:.0f}", ratio(a, n)))
for scheme in ("http", "https"):
    a, n = mean("albatross", scheme, "us"), mean("nginx", scheme, "us")
    rows.append((f"{scheme.upper()} CPU per request (us)", f"{a:.1f}", f"{n:.1f}", ratio(a, n)))
delta = {}
for key, label in (("us", "HTTPS - HTTP, whole tree (us)"), ("front_us", "HTTPS - HTTP, front only (us)")):
    for server in ("albatross", "nginx"):
        delta[(server, key)] = statistics.median(deltas(server, key))
    a, n = delta[("albatross", key)], delta[("nginx", key)]
    rows.append((label, f"{a:.1f}", f"{n:.1f}", ratio(a, n) if n > 0 else "n/a"))
for row in rows:
    print(f"| {row[0]:<34} | {row[1]:>10} | {row[2]:>10} | {row[3]:>15} |")
for key, label in (("us", "whole tree"), ("front_us", "front only")):
    print(f"  HTTPS - HTTP per round, {label} (us): albatross "
          + " ".join(f"{d:+.1f}" for d in deltas("albatross", key)) + "; nginx "
          + " ".join(f"{d:+.1f}" for d in deltas("nginx", key)))
print(f"  albatross environments alive after the run: {environments}")
for key, label in (("us", "whole tree"), ("front_us", "front only")):
    a, n = delta[("albatross", key)], delta[("nginx", key)]
    differences = [x - y for x, y in zip(deltas("albatross", key), deltas("nginx", key))]
    met = decide(differences)
    verdicts.append((f"HTTPS cost per request over HTTP ({label}): albatross <= nginx", met,
                     f"median {a:+.1f} us vs {n:+.1f} us; albatross minus nginx per round: "
                     + " ".join(f"{d:+.1f}" for d in differences)))

print()
print("Targets")
for label, (met, agreeing, total), detail in verdicts:
    word = "MET      " if met else "NOT MET  " if met is False else "UNDECIDED"
    print(f"  {word}  {label}  [{agreeing} of {total} rounds agree]  ({detail})")
if any(met is None for _, (met, _, _), _ in verdicts):
    print("  UNDECIDED: at most half the rounds agree with the median: the gap is within this machine's noise;"
          " use more ROUNDS.")
if warnings:
    print()
    for warning in warnings:
        print(f"WARNING: {warning}")
PY

print_logs "$TMP/albatross.err" "$TMP/upstream.err" "$TMP/nginx/logs/error.log"
