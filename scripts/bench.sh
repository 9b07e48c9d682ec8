#!/usr/bin/env bash
# `make bench`: reproduce every table of docs/BENCHMARKS.md — exact OT timings, the synthetic potentials,
# the EB Table 5 protocol (3 seeds) and the training speed table — and record, for each section, the
# command that produced it, the machine (nproc, CPU model) and the date.
#
# The full run takes hours on 2 cores. Knobs (environment variables):
#   SECTIONS       sections to run, default "ot synthetic eb speed"
#   SYNTH_EPOCHS   epochs per synthetic potential (default 300)    POTENTIALS  all | name,name (default all)
#   PAIRINGS       unpaired paired (default "unpaired paired")
#   EB_EPOCHS      epochs per EB seed (default 1000)               EB_SEEDS    default 0,1,2
#   EB_VARIANTS    energy variants for EB (default "V t,V", the paper's Table 5 rows)
#   SPEED_EPOCHS   epochs per speed measurement (default 50)
#   BENCH_OUT      report file (default out/bench/report-<UTC date>.md)
#   BENCH_TINY=1   tiny settings to check that the script works (minutes, numbers meaningless)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

if [ "${BENCH_TINY:-0}" = 1 ]; then
    : "${SYNTH_EPOCHS:=2}" "${POTENTIALS:=wavy_plateau,styblinski_tang}" "${PAIRINGS:=unpaired}"
    : "${EB_EPOCHS:=2}" "${EB_SEEDS:=0,1,2}" "${EB_VARIANTS:=V}" "${SPEED_EPOCHS:=2}"
fi
SECTIONS="${SECTIONS:-ot synthetic eb speed}"
SYNTH_EPOCHS="${SYNTH_EPOCHS:-300}"
POTENTIALS="${POTENTIALS:-all}"
PAIRINGS="${PAIRINGS:-unpaired paired}"
EB_EPOCHS="${EB_EPOCHS:-1000}"
EB_SEEDS="${EB_SEEDS:-0,1,2}"
EB_VARIANTS="${EB_VARIANTS:-V t,V}"
SPEED_EPOCHS="${SPEED_EPOCHS:-50}"
STAMP="$(date -u +%Y-%m-%dT%H-%M-%SZ)"
OUT="${BENCH_OUT:-out/bench/report-$STAMP.md}"
mkdir -p "$(dirname "$OUT")"
WORK="$(dirname "$OUT")/work-$STAMP"
mkdir -p "$WORK"

echo "bench: building (release)" >&2
cargo build --release --quiet --features cli --bin ijkonet --example ot_bench --example bench_synthetic --example bench_eb
BIN=target/release/ijkonet
EX=target/release/examples

cpu_model() {
    lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n1 ||
        sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n1
}
MACHINE="nproc = $(nproc), CPU \"$(cpu_model)\", $(uname -sm), $(rustc --version), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"

# section TITLE SHOWN COMMAND…: run COMMAND, append its output to the report under TITLE with provenance;
# SHOWN is the command as a person would type it.
section() {
    local title="$1" shown="$2"
    shift 2
    echo "bench: $title: $*" >&2
    local start end
    start=$(date +%s)
    {
        echo "## $title"
        echo
        echo "Command: \`$shown\` (via scripts/bench.sh)  "
        echo "Machine: $MACHINE  "
        echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
        echo
        echo '```'
    } >>"$OUT"
    "$@" 2>&1 | tee -a "$OUT"
    end=$(date +%s)
    {
        echo '```'
        echo "($((end - start)) s)"
        echo
    } >>"$OUT"
}

# Training speed: epochs per second of `ijkonet train` on generated data of several sizes (wall time of
# the whole training loop as the tool reports it, so start-up and data loading are excluded).
SPEED_CMD="ijkonet generate --potential styblinski_tang --dim D --particles N -o DATA; ijkonet train DATA --variant V --epochs $SPEED_EPOCHS --test-fraction 0"
speed_table() {
    echo "| variant | dimension | particles per snapshot | snapshots | epochs | training time (s) | epochs/s |"
    echo "|---|---|---|---|---|---|---|"
    local variant dim n data secs
    for variant in V V+U; do
        for dim in 2 10; do
            for n in 500 2000; do
                data="$WORK/speed-$dim-$n.npz"
                [ -f "$data" ] || "$BIN" generate --potential styblinski_tang --dim "$dim" --particles "$n" -o "$data" >/dev/null
                secs=$("$BIN" train "$data" -o "$WORK/speed.safetensors" --variant "$variant" --epochs "$SPEED_EPOCHS" \
                    --test-fraction 0 | sed -n 's/^trained in \([0-9.]*\) s$/\1/p')
                echo "| $variant | $dim | $n | 6 | $SPEED_EPOCHS | $secs | $(awk -v e="$SPEED_EPOCHS" -v s="$secs" 'BEGIN { printf "%.2f", (s > 0 ? e / s : 0) }') |"
            done
        done
    done
}

{
    echo "# Benchmark report ($STAMP)"
    echo
    echo "Produced by \`make bench\` (scripts/bench.sh); sections in the order of docs/BENCHMARKS.md."
    echo
} >"$OUT"

for s in $SECTIONS; do
    case "$s" in
    ot) section "Exact OT" "cargo run --release --example ot_bench" "$EX/ot_bench" ;;
    synthetic)
        for pairing in $PAIRINGS; do
            args=("epochs=$SYNTH_EPOCHS" "potentials=$POTENTIALS" "pairing=$pairing")
            section "Synthetic potentials ($pairing)" "cargo run --release --example bench_synthetic -- ${args[*]}" \
                "$EX/bench_synthetic" "${args[@]}"
        done
        ;;
    eb)
        for variant in $EB_VARIANTS; do
            args=("variant=$variant" "epochs=$EB_EPOCHS" "seeds=$EB_SEEDS")
            section "EB Table 5 protocol (iJKOnet_$variant, seeds $EB_SEEDS)" \
                "cargo run --release --example bench_eb -- ${args[*]}" "$EX/bench_eb" "${args[@]}"
        done
        ;;
    speed) section "Training speed (ijkonet train)" "$SPEED_CMD" speed_table ;;
    *)
        echo "bench: unknown section '$s' (known: ot synthetic eb speed)" >&2
        exit 2
        ;;
    esac
done
rm -rf "$WORK"
echo "bench: report written to $OUT" >&2
