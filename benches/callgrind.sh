#!/usr/bin/env bash
# Instructions per child (per group for W9) under callgrind: one run of one
# workload for each peer, counted only inside `measured_job` of
# benches/compare.rs (no start-up, no runtime construction).
#
#   benches/callgrind.sh                 # W1 W2 W9, raw-fu and trygroup, N=100000 (W9: 10000 groups)
#   benches/callgrind.sh W7 20000 raw-fu trygroup try_join_all
#   TOP=15 benches/callgrind.sh W1       # also list the 15 costliest functions (self cost)
#
# Deterministic: a change of a few instructions per child shows, where wall
# time on this shared machine swings by 10-50 %.
set -euo pipefail
cd "$(dirname "$0")/.."

workloads=${1:-"W1 W2 W9"}
n_arg=${2:-}
shift $(($# > 2 ? 2 : $#))
peers=${*:-"raw-fu trygroup"}
top=${TOP:-0}

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target-bench/callgrind}
# Line tables so that callgrind_annotate can name inlined code; same codegen.
export CARGO_PROFILE_BENCH_DEBUG=line-tables-only

bin=$(cargo bench --bench compare --no-run --message-format=json 2>/dev/null |
    grep -o '"executable":"[^"]*compare-[^"]*"' | tail -1 | cut -d'"' -f4)
[ -x "$bin" ] || { echo "could not build the bench binary" >&2; exit 1; }

out_dir=$CARGO_TARGET_DIR/callgrind-out
mkdir -p "$out_dir"

printf '| workload | peer | N | instructions | per child | of which malloc/free | per child, without malloc/free |\n'
printf '|---|---|---:|---:|---:|---:|---:|\n'
for w in $workloads; do
    n=$n_arg
    if [ -z "$n" ]; then
        case $w in
            W9) n=10000 ;;
            W8) n=1000000 ;;
            *) n=100000 ;;
        esac
    fi
    for p in $peers; do
        out=$out_dir/$w-$p-$n.out
        valgrind --tool=callgrind --callgrind-out-file="$out" \
            --collect-atstart=no --toggle-collect='*measured_job*' \
            "$bin" --callgrind --only "$w" --peer "$p" --n "$n" >"$out.stdout" 2>"$out.log" ||
            { echo "valgrind failed, see $out.log" >&2; exit 1; }
        if grep -q 'n/a' "$out.stdout"; then
            echo "| $w | $p | $n | n/a | | | |"
            continue
        fi
        ir=$(grep -E '^(summary|totals):' "$out" | head -1 | awk '{print $2}')
        annotated=$(callgrind_annotate --inclusive=no --auto=no --threshold=100 "$out" 2>/dev/null || true)
        # Self cost of glibc's allocator functions (malloc.c).
        mal=$(printf '%s\n' "$annotated" | grep 'malloc/malloc.c:' |
            awk '{ gsub(",", "", $1); s += $1 } END { print s + 0 }' || true)
        awk -v w="$w" -v p="$p" -v n="$n" -v ir="$ir" -v mal="$mal" \
            'BEGIN { printf "| %s | %s | %d | %d | %.1f | %.1f | %.1f |\n", w, p, n, ir, ir / n, mal / n, (ir - mal) / n }'
        if [ "$top" -gt 0 ]; then
            echo
            printf '%s\n' "$annotated" | grep -E '^ *[0-9,]+ ' | sed -n "2,$((top + 1))p" |
                sed -E 's#/root/.cargo/registry/src/[^/]*/##; s#/rustc/[0-9a-f]*/##; s# \[[^]]*\]$##; s/^/    /' || true
            echo
        fi
    done
done
