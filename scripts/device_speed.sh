#!/usr/bin/env bash
# Issue 17's GPU rows: training speed of the three methods on one CPU thread and on CUDA, on the
# EB 5-D data and JKOnet*'s wavy_plateau speed set. Meant for a lent GPU machine, which has PyTorch
# but no cargo: build and stage here, carry the staging folder, run it there.
#
#   bash scripts/device_speed.sh stage          # here: build the benchmarks, copy them and the EB data to .devbin/
#   device run (carry .devbin): bash scripts/device_speed.sh run [devices="cpu cuda"] [budget=small|full]
#
# `run` finds libtorch in the machine's PyTorch (LD_LIBRARY_PATH), prints one line per method and
# device, and takes about 3 minutes with budget=small (the default).
set -euo pipefail
cd "$(dirname "$0")/.."
stage=.devbin
case "${1:-}" in
stage)
    . scripts/env.sh
    cargo build --release --example bench_jkonet_star --example bench_jkonet --example bench_eb
    mkdir -p "$stage/eb_pca5"
    grep -qx "/$stage/" .git/info/exclude 2>/dev/null || echo "/$stage/" >> .git/info/exclude
    # A staging left by an earlier stage or run (compressed and unpacked copies) is replaced whole.
    rm -f "$stage"/bench_*
    cp target/release/examples/{bench_jkonet_star,bench_jkonet,bench_eb} "$stage/"
    # The carried tree is limited to 64 MiB: stripped and compressed, the three fit.
    strip "$stage"/{bench_jkonet_star,bench_jkonet,bench_eb}
    gzip -f9 "$stage"/{bench_jkonet_star,bench_jkonet,bench_eb}
    cp ../shared/data/eb_pca5/{data.npy,sample_labels.npy} "$stage/eb_pca5/"
    du -sh "$stage"
    ;;
run)
    devices="${2:-cpu cuda}"
    budget="${3:-small}"
    if [ "$budget" = full ]; then star=1000 ij=20 jk=2; else star=200 ij=5 jk=1; fi
    if python3 -c 'import torch' 2>/dev/null; then
        LD_LIBRARY_PATH="$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))')/lib:${LD_LIBRARY_PATH:-}"
        export LD_LIBRARY_PATH
    fi
    for b in "$stage"/bench_*.gz; do gunzip -kf "$b"; done
    echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
    for d in $devices; do
        echo "== device $d (CPU: one libtorch thread)"
        "$stage/bench_jkonet_star" part=speed_v device="$d" threads=1 speed_epochs="$star" | grep '^speed V:'
        "$stage/bench_eb" data="$stage/eb_pca5" device="$d" threads=1 variant=t,V epochs="$ij" seeds=0 \
            validation=0 | grep -E '^seed'
        "$stage/bench_jkonet" task=eb data="$stage/eb_pca5" device="$d" threads=1 epochs="$jk" seeds=0 \
            | grep -E 's/epoch|epochs|mean over'
    done
    ;;
*)
    echo "usage: bash scripts/device_speed.sh stage | run [devices] [small|full]" >&2
    exit 2
    ;;
esac
