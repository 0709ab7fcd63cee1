#!/usr/bin/env bash
# User-space instructions per echoed request, counted exactly by callgrind.
#
# For each server (coring, raw, tokio, monoio, tokio-uring, glommio): run the
# net_echo bench binary's `--serve KIND` under valgrind --tool=callgrind,
# drive it with `--load` (16 connections, 64 B by default): a warm-up,
# then `callgrind_control -z` (zero), N requests, `callgrind_control -d`
# (dump). The dump holds the window only; its Ir total / N is the
# server's user-space instructions per request (the kernel's TCP path is
# not counted). Outputs go under /tmp only.
#
# Usage: benches/net_callgrind.sh [KIND ...]
# Env: CALLGRIND_N (requests, default 20000), CALLGRIND_CONNS (16),
#      CALLGRIND_SIZE (64), CALLGRIND_OUT (/tmp/coring-net-callgrind),
#      NET_ECHO_EXE (use this bench binary instead of building one)
set -euo pipefail

N=${CALLGRIND_N:-20000}
CONNS=${CALLGRIND_CONNS:-16}
SIZE=${CALLGRIND_SIZE:-64}
OUT=${CALLGRIND_OUT:-/tmp/coring-net-callgrind}
VALGRIND=${VALGRIND:-$(command -v valgrind || true)}
if [[ -z "$VALGRIND" ]] || ! command -v callgrind_control >/dev/null; then
    echo "valgrind/callgrind_control not found; install with: apt-get install valgrind" >&2
    exit 0
fi
cd "$(dirname "$0")/.."
mkdir -p "$OUT"

EXE=${NET_ECHO_EXE:-}
if [[ -z "$EXE" ]]; then
    echo "building the net_echo bench ..." >&2
    EXE=$(cargo bench -p coring-bench --bench net_echo --no-run --message-format=json 2>"$OUT/build.log" |
        grep -o '"executable":"[^"]*net_echo-[^"]*"' | sed 's/^"executable":"//; s/"$//' | tail -n 1 || true)
fi
if [[ -z "$EXE" || ! -x "$EXE" ]]; then
    echo "could not build/find the net_echo binary; see $OUT/build.log" >&2
    exit 1
fi

KINDS=("$@")
[[ ${#KINDS[@]} -gt 0 ]] || KINDS=(raw coring tokio monoio tokio-uring glommio)

declare -A PER
for kind in "${KINDS[@]}"; do
    rm -f "$OUT/$kind".*
    "$VALGRIND" --tool=callgrind --callgrind-out-file="$OUT/$kind.%p" \
        "$EXE" --serve "$kind" >"$OUT/$kind.port" 2>"$OUT/$kind.log" &
    vg=$!
    port=""
    for _ in $(seq 1 300); do
        port=$(sed -n 's/^PORT //p' "$OUT/$kind.port" 2>/dev/null || true)
        [[ -n "$port" ]] && break
        sleep 0.1
    done
    if [[ -z "$port" ]]; then
        echo "$kind: server did not start; see $OUT/$kind.log" >&2
        kill "$vg" 2>/dev/null || true
        continue
    fi
    "$EXE" --load --port "$port" --conns "$CONNS" --size "$SIZE" \
        --requests "$N" --warm-requests 2000 --callgrind-pid "$vg" >"$OUT/$kind.load" 2>&1 || {
        echo "$kind: load failed; see $OUT/$kind.load" >&2
    }
    # A server parked in io_uring_enter under valgrind may not die on
    # TERM; the window's dump is already written, so KILL is fine.
    kill "$vg" 2>/dev/null || true
    sleep 0.5
    kill -9 "$vg" 2>/dev/null || true
    wait "$vg" 2>/dev/null && true
    # The -d dump: the window only. (The final dump at exit is the
    # remainder; take the first numbered part.)
    dump=$(ls "$OUT/$kind".*.1 2>/dev/null | head -n 1 || true)
    [[ -n "$dump" ]] || dump=$(ls "$OUT/$kind".[0-9]*.[0-9]* 2>/dev/null | head -n 1 || true)
    if [[ -z "$dump" ]]; then
        echo "$kind: no callgrind dump in $OUT" >&2
        continue
    fi
    ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$dump")
    reqs=$(sed -n 's/^requests \([0-9]*\).*/\1/p' "$OUT/$kind.load")
    [[ -n "$reqs" ]] || reqs=$N
    PER[$kind]=$(awk -v a="$ir" -v n="$reqs" 'BEGIN { printf "%.0f", a / n }')
    printf '%-12s Ir %14s  requests %8s  Ir/request %8s\n' "$kind" "$ir" "$reqs" "${PER[$kind]}"
done

echo
echo "user-space instructions per echoed request (${SIZE} B, ${CONNS} connections, N=$N; kernel not counted)"
for kind in "${KINDS[@]}"; do
    v=${PER[$kind]:-n/a}
    r="n/a"
    if [[ -n "${PER[raw]:-}" && -n "${PER[$kind]:-}" ]]; then
        r=$(awk -v a="${PER[$kind]}" -v b="${PER[raw]}" 'BEGIN { printf "%.2fx", a / b }')
    fi
    printf '%-12s %10s   vs raw %s\n' "$kind" "$v" "$r"
done
echo "(callgrind outputs: $OUT)"
