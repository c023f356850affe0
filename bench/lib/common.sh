# Shared by bench/run.sh and bench/tls.sh: messages, tool installation, process-tree bookkeeping, free ports.
# Expects REPO, BENCH, SKIP_INSTALL and TMP (for stop_tree) to be set by the sourcing script.

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# Installs nginx-light and wrk from Debian when missing (as root, or with sudo), then checks every tool.
ensure_tools() {
    if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
        [ "$SKIP_INSTALL" = 1 ] && die "nginx or wrk is missing and SKIP_INSTALL=1"
        local sudo=""
        if [ "$(id -u)" != 0 ]; then
            command -v sudo >/dev/null || die "nginx or wrk is missing; install them (apt-get install nginx-light wrk)"
            sudo=sudo
        fi
        log "installing nginx-light and wrk from Debian"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nginx-light wrk >/dev/null
    fi
    local tool
    for tool in nginx wrk curl python3 cc; do
        command -v "$tool" >/dev/null || die "$tool is required"
    done
}

# Prints the pids of every descendant of the given pids (children first, then theirs).
descendants() {
    python3 "$BENCH/lib/proctree.py" descendants "$@"
}

stop_tree() { # stop_tree PID: SIGTERM the process, wait up to 5 s, then SIGKILL it and any descendant left
    local pid=$1 children i child
    kill -0 "$pid" 2>/dev/null || return 0
    children=$(descendants "$pid" || true)
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for child in $children; do
        kill -KILL "$child" 2>/dev/null || true
    done
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
