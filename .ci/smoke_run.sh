#!/usr/bin/env bash
# The README's `make run`, as a newcomer meets it: from a clean clone of the committed HEAD it
# sets itself up, prints the demo form's URL for the chosen PORT, takes a JSON submission that
# the worker turns into a lead assigned by ZIP, and Ctrl-C stops everything it started.
#
#   bash .ci/smoke_run.sh          (SMOKE_PORT=8123 to choose the port; else the first free one
#                                   from 8100)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
setup_timeout="${SMOKE_SETUP_TIMEOUT:-600}"  # a fresh .venv is created and installed first
lead_timeout="${SMOKE_LEAD_TIMEOUT:-20}"
stop_timeout="${SMOKE_STOP_TIMEOUT:-30}"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/leadline-smoke.XXXXXX")"
clone="$tmp/clone"
log="$tmp/make-run.log"
make_pid=""

say() { printf 'smoke: %s\n' "$*"; }

show_log() {
    if [[ -s "$log" ]]; then
        printf -- '---- make run output (last 80 lines) ----\n'
        tail -n 80 "$log"
        printf -- '----\n'
    fi
}

fail() {
    say "FAILED: $*" >&2
    show_log >&2
    exit 1
}

# Every process make run left running: its own process group, and anything working in the
# clone (the task worker runs in a process group of its own). Zombies are not running.
leftovers() {
    local proc
    {
        if [[ -n "$make_pid" ]]; then
            ps -eo pid=,pgid=,stat= | awk -v group="$make_pid" '$2 == group && $3 !~ /^Z/ {print $1}'
        fi
        for proc in /proc/[0-9]*; do
            if [[ "$(readlink "$proc/cwd" 2>/dev/null)" == "$clone"* ]]; then
                echo "${proc#/proc/}"
            fi
        done
    } | sort -u
}

cleanup() {
    local pids
    mapfile -t pids < <(leftovers)
    if ((${#pids[@]})); then
        kill -KILL "${pids[@]}" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
    python3 - <<'PY'
import socket

for port in range(8100, 8200):
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        print(port)
        break
PY
}

port="${SMOKE_PORT:-$(free_port)}"
[[ -n "$port" ]] || fail "no free port between 8100 and 8199"

# A newcomer's shell: none of the app's settings, so the defaults (SQLite, ORM broker) apply.
unset DATABASE_URL REDIS_URL SITE_URL DEBUG SECRET_KEY ALLOWED_HOSTS CSRF_TRUSTED_ORIGINS \
    EMAIL_URL DJANGO_SETTINGS_MODULE VIRTUAL_ENV PYTEST_ARGS VENV HOST PORT MAKEFLAGS

git clone -q "$repo" "$clone"
say "cloned $(git -C "$clone" rev-parse --short HEAD) into $clone; make run PORT=$port"

started=$SECONDS
# Job control gives make a process group of its own, with Ctrl-C (SIGINT) not ignored.
set -m
make -C "$clone" run PORT="$port" >"$log" 2>&1 </dev/null &
make_pid=$!
set +m

until [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/healthz")" == 200 ]]; do
    if ! kill -0 "$make_pid" 2>/dev/null; then
        wait "$make_pid" && status=0 || status=$?
        fail "make run exited (status $status) before /healthz answered"
    fi
    ((SECONDS - started < setup_timeout)) || fail "/healthz did not answer 200 within ${setup_timeout} s"
    sleep 1
done
say "/healthz answered 200, $((SECONDS - started)) s after make run started"

form_url="$(sed -n 's/^ *Demo form: *//p' "$log" | head -n 1)"
expected="http://localhost:$port/forms/sunrise-demo/"
[[ "$form_url" == "$expected" ]] ||
    fail "make run printed the demo form as '${form_url:-nothing}', not $expected"

(cd "$clone" && .venv/bin/python "$here/smoke_submit.py" --timeout "$lead_timeout" "$form_url") ||
    fail "the demo form did not turn into a lead assigned by ZIP"

# What Ctrl-C does in a terminal: SIGINT to make's whole process group.
kill -INT -- "-$make_pid"
stopping=$SECONDS
while [[ -n "$(leftovers)" ]]; do
    if ((SECONDS - stopping >= stop_timeout)); then
        say "still running ${stop_timeout} s after Ctrl-C:" >&2
        ps -o pid,pgid,etime,args -p "$(leftovers | paste -sd, -)" >&2 || true
        fail "Ctrl-C did not stop everything make run started"
    fi
    sleep 0.5
done
wait "$make_pid" || true
say "Ctrl-C stopped the web server and the worker in $((SECONDS - stopping)) s; nothing left running"

if grep -q '^Traceback' "$log"; then
    fail "make run printed a traceback"
fi
say "ok ($((SECONDS - started)) s)"
