#!/usr/bin/env bash
# User-space instructions per op, counted exactly by callgrind.
#
# Runs each cell of benches/ops.rs (`--only contender:workload`) under
# `valgrind --tool=callgrind` with N and 2N ops and prints
# (Ir(2N) - Ir(N)) / N, so start-up and tear-down cost drop out. The
# kernel's share of each op is not counted. Outputs go under /tmp only.
#
# Usage: benches/callgrind.sh [cell ...]
#   cells default to every supported contender:workload pair, e.g.
#   benches/callgrind.sh coring:read32 raw:read32 monoio:read32
# Env: CALLGRIND_N (default 20000), CALLGRIND_OUT (default /tmp/coring-callgrind),
#      OPS_BENCH_EXE (use this ops bench binary instead of building one)
set -euo pipefail

N=${CALLGRIND_N:-20000}
OUT=${CALLGRIND_OUT:-/tmp/coring-callgrind}
VALGRIND=${VALGRIND:-$(command -v valgrind || true)}

if [[ -z "$VALGRIND" || ! -x "$VALGRIND" ]]; then
    echo "valgrind not found; install it with:  sudo apt-get install valgrind" >&2
    exit 0
fi

cd "$(dirname "$0")/.."
mkdir -p "$OUT"

EXE=${OPS_BENCH_EXE:-}
if [[ -z "$EXE" ]]; then
    echo "building ops bench ..." >&2
    EXE=$(cargo bench -p coring-bench --bench ops --no-run --message-format=json 2>"$OUT/build.log" |
        grep -o '"executable":"[^"]*"' | sed 's/^"executable":"//; s/"$//' | grep '/ops-' | tail -n 1 || true)
    if [[ -z "$EXE" ]]; then
        # Fall back to the newest ops-* binary.
        EXE=$(ls -t target/release/deps/ops-* 2>/dev/null | grep -v '\.d$' | head -n 1 || true)
    fi
fi
if [[ -z "$EXE" || ! -x "$EXE" ]]; then
    echo "could not build/find the ops bench binary; see $OUT/build.log" >&2
    exit 1
fi
echo "binary: $EXE"

if [[ $# -gt 0 ]]; then
    CELLS=("$@")
else
    CELLS=()
    for w in nop1 nop32 read1 read32; do
        for c in raw coring monoio; do
            [[ $c == monoio && $w == nop* ]] && continue # monoio has no public NOP
            CELLS+=("$c:$w")
        done
    done
fi

# Total Ir of one callgrind output file ("summary:" or "totals:" line).
ir_of() {
    awk '/^(summary|totals):/ { print $2; exit }' "$1"
}

declare -A PER_OP
run_cell() {
    local cell=$1 n=$2 file
    file="$OUT/${cell/:/-}-$n.out"
    "$VALGRIND" --tool=callgrind --callgrind-out-file="$file" \
        "$EXE" --only "$cell" --n "$n" >"$file.log" 2>&1 || {
        echo "callgrind failed for $cell n=$n; see $file.log" >&2
        return 1
    }
    ir_of "$file"
}

printf '%-14s %14s %14s %10s\n' "cell" "Ir(N)" "Ir(2N)" "Ir/op"
for cell in "${CELLS[@]}"; do
    ir1=$(run_cell "$cell" "$N") || continue
    ir2=$(run_cell "$cell" "$((2 * N))") || continue
    if [[ -z "$ir1" || -z "$ir2" ]]; then
        echo "$cell: no Ir total in the callgrind output" >&2
        continue
    fi
    per=$(awk -v a="$ir1" -v b="$ir2" -v n="$N" 'BEGIN { printf "%.1f", (b - a) / n }')
    PER_OP[$cell]=$per
    printf '%-14s %14s %14s %10s\n' "$cell" "$ir1" "$ir2" "$per"
done

ratio() {
    local a=${PER_OP[$1]:-} b=${PER_OP[$2]:-}
    if [[ -z "$a" || -z "$b" ]]; then
        echo "n/a"
    else
        awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'
    fi
}

echo
echo "user-space instructions per op (callgrind, N=$N and 2N; kernel not counted)"
printf '%-8s %10s %10s %10s %11s %14s\n' "workload" "raw" "coring" "monoio" "coring/raw" "coring/monoio"
for w in nop1 nop32 read1 read32; do
    have=0
    for c in raw coring monoio; do [[ -n "${PER_OP[$c:$w]:-}" ]] && have=1; done
    [[ $have == 1 ]] || continue
    printf '%-8s %10s %10s %10s %11s %14s\n' "$w" \
        "${PER_OP[raw:$w]:-n/a}" "${PER_OP[coring:$w]:-n/a}" "${PER_OP[monoio:$w]:-n/a}" \
        "$(ratio "coring:$w" "raw:$w")" "$(ratio "coring:$w" "monoio:$w")"
done
echo "(callgrind outputs: $OUT)"
