# The two commands of the README. Both provision libtorch first (idempotent; cached in ~/.cache/ijkonet).
SHELL := /bin/bash
ENV := . scripts/env.sh &&

.PHONY: bench-real demo demo-example demo-eb cli bench test test-c test-valgrind cmake-tools provision lint bench-ot lib-release test-bindings

# The main job: generate unpaired synthetic snapshots, train iJKOnet_V, print held-out one-step W1 and
# L2-UVP against the ground truth, write plots to out/demo/{potential,snapshots,training}.png.
demo: cli
	mkdir -p out/demo
	$(CLI) generate --potential styblinski_tang --particles 5000 -o out/demo/data.npz
	$(CLI) train out/demo/data.npz -o out/demo/model.safetensors --variant V --epochs 200 --test-fraction 0.4 --seed 0 --eval-every 20
	$(CLI) plot out/demo/model.safetensors out/demo/data.npz --test-fraction 0.4 --seed 0 -o out/demo

# The same story through the Rust API (examples/demo.rs), with ∇V probes and an EB data summary.
demo-example:
	$(ENV) cargo run --release --example demo

# With the `cli` feature, so the command-line tool, its tests (tests/cli.rs, the CLI part of tests/h5ad.rs)
# and ijkonet::plot are built and tested too; lint checks the library without it as well.
test: lint
	$(ENV) cargo test --all-targets --features cli
	$(ENV) cargo test --doc --features cli
	$(MAKE) test-c
	$(MAKE) test-bindings

# The C ABI: build the library with CMake (cargo underneath), then the C/C++ tests, examples, ASan run
# and the find_package consumer under ctest. CMake comes from apt when missing.
CMAKE_BUILD := target/cmake
test-c: cmake-tools
	$(ENV) cmake -S . -B $(CMAKE_BUILD) -DCMAKE_BUILD_TYPE=Release
	$(ENV) cmake --build $(CMAKE_BUILD) -j 2
	$(ENV) ctest --test-dir $(CMAKE_BUILD) --output-on-failure -LE valgrind

# The C example under valgrind (about a minute).
test-valgrind: test-c
	$(ENV) ctest --test-dir $(CMAKE_BUILD) --output-on-failure -L valgrind

# The R package (testthat tests, then R CMD check) and the Julia package (parsed with tree-sitter-julia,
# its @ccall symbols and argument counts checked against include/ijkonet.h). R comes from apt when missing.
# The library's SONAME is libijkonet.so.MAJOR (build.rs): programs linked against target/release load
# it through that link.
SOMAJOR := $(shell sed -n 's/^version = "\([0-9]*\)\..*/\1/p' Cargo.toml | head -1)
lib-release:
	$(ENV) cargo build --release --lib
	ln -sfn libijkonet.so target/release/libijkonet.so.$(SOMAJOR)

test-bindings: lib-release
	IJKONET_LIB_DIR=$(CURDIR)/target/release IJKONET_INCLUDE_DIR=$(CURDIR)/include bash bindings/R/run-tests.sh
	IJKONET_LIB_DIR=$(CURDIR)/target/release IJKONET_INCLUDE_DIR=$(CURDIR)/include bash bindings/R/check.sh
	$$(bash bindings/julia/setup-check.sh) bindings/julia/check.py

cmake-tools:
	bash scripts/install-cmake.sh

provision:
	bash scripts/provision.sh

lint:
	$(ENV) cargo fmt --check
	$(ENV) cargo clippy --all-targets -- -D warnings
	$(ENV) cargo clippy --all-targets --features cli -- -D warnings

bench-ot:
	$(ENV) cargo run --release --example ot_bench

# The command-line tool (target/release/ijkonet); it finds libtorch through its rpath. Behind the cargo
# feature `cli` (clap, indicatif, plotters), which the library itself (lib-release, CMake, R, Julia) leaves out.
CLI := target/release/ijkonet

cli:
	$(ENV) cargo build --release --features cli --bin ijkonet

# The same on the real embryoid-body data (5 PCs): held-out one-step W1 and plots in out/eb.
EB := ../shared/data/eb_pca5
demo-eb: cli
	mkdir -p out/eb
	$(CLI) train $(EB)/data.npy --labels $(EB)/sample_labels.npy -o out/eb/model.safetensors --test-fraction 0.4 --seed 0
	$(CLI) plot out/eb/model.safetensors $(EB)/data.npy --labels $(EB)/sample_labels.npy --test-fraction 0.4 --seed 0 -o out/eb

# Real snapshot data (practice sets + EB) trained with the defaults, next to the naive predictions
# (docs/BENCHMARKS.md, "Real data"); about 15 minutes on 2 cores.
bench-real:
	$(ENV) cargo run --release --example bench_real

# Every table of docs/BENCHMARKS.md (hours); BENCH_TINY=1 make bench checks the script in minutes.
bench:
	bash scripts/bench.sh

# Fuzzing with cargo-fuzz (libFuzzer, nightly; cargo-fuzz is installed on first use): each target in turn
# for FUZZ_SECONDS (one job), on its committed corpus fuzz/corpus/<target>, which new inputs join.
# A crash stops the run and leaves the input in fuzz/artifacts/<target>/ (docs/RELIABILITY.md).
# FUZZ_SANITIZER=none runs libFuzzer's coverage without AddressSanitizer. The fuzz binaries carry no
# rpath to libtorch (build.rs sets it for this crate's own binaries only), hence LD_LIBRARY_PATH.
FUZZ_SECONDS ?= 60
FUZZ_SANITIZER ?= address
FUZZ_TARGETS ?= npy npz csv config model_load ffi_calls
.PHONY: fuzz
fuzz:
	cargo +nightly fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked
	$(ENV) cd fuzz && cargo +nightly fuzz build -s $(FUZZ_SANITIZER)
	$(ENV) export LD_LIBRARY_PATH=$$LIBTORCH/lib && cd fuzz && for t in $(FUZZ_TARGETS); do \
	  echo "== fuzz $$t ($(FUZZ_SECONDS) s)"; \
	  cargo +nightly fuzz run -s $(FUZZ_SANITIZER) $$t -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 -timeout=30 -print_final_stats=1 || exit 1; \
	done
