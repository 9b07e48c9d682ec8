# The two commands of the README. Both provision libtorch first (idempotent; cached in ~/.cache/ijkonet).
SHELL := /bin/bash
ENV := . scripts/env.sh &&

.PHONY: demo test provision lint bench-ot

demo:
	$(ENV) cargo run --release --example demo

test: lint
	$(ENV) cargo test --all-targets
	$(ENV) cargo test --doc

provision:
	bash scripts/provision.sh

lint:
	$(ENV) cargo fmt --check
	$(ENV) cargo clippy --all-targets -- -D warnings

bench-ot:
	$(ENV) cargo run --release --example ot_bench
