# The two commands of the README. Both provision libtorch first (idempotent; cached in ~/.cache/ijkonet).
SHELL := /bin/bash
ENV := . scripts/env.sh &&

.PHONY: demo test test-c test-valgrind cmake-tools provision lint bench-ot

demo:
	$(ENV) cargo run --release --example demo

test: lint
	$(ENV) cargo test --all-targets
	$(ENV) cargo test --doc
	$(MAKE) test-c

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

cmake-tools:
	bash scripts/install-cmake.sh

provision:
	bash scripts/provision.sh

lint:
	$(ENV) cargo fmt --check
	$(ENV) cargo clippy --all-targets -- -D warnings

bench-ot:
	$(ENV) cargo run --release --example ot_bench
