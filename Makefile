# redstream: the two commands that matter are `make demo` and `make test`.
# Both set up a fresh machine themselves (Debian packages, the local stack from Maven Central).

SHELL := /bin/bash
CARGO ?= cargo
INPUT ?=
DEMO_ARGS ?=
# Where cargo puts binaries (honours CARGO_TARGET_DIR like cargo does).
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
BENCH_ARGS ?=

.PHONY: demo test test-faults test-unit bench setup stack-up stack-down stack-status build lint fmt clean-demo

## demo: start the stack, build, run every stage on INPUT (default: a generated sample), print a summary
demo: setup stack-up build
	$(TARGET_DIR)/debug/redstream-demo $(DEMO_ARGS) $(strip $(INPUT))

## test: every test, against the real local stack (started if needed)
test: setup stack-up build
	$(CARGO) test --workspace --no-fail-fast -- --test-threads=2

## test-faults: only the fault tests (about 5 minutes; they start their own servers on other ports)
test-faults: setup stack-up build
	$(CARGO) test -p redstream-tests --test 'faults_*' -- --test-threads=2

## test-unit: the tests that need no running server
test-unit:
	REDSTREAM_SKIP_STACK_TESTS=1 $(CARGO) test --workspace

## bench: release build, then every stage against kcat and plain store loads on the local stack (BENCHMARKS.md)
bench: setup stack-up
	$(CARGO) build --release --workspace --bins
	$(TARGET_DIR)/release/redstream-bench $(BENCH_ARGS)
	$(CARGO) bench -p redstream-schemas -p redstream-processors

setup:
	scripts/setup

stack-up:
	scripts/stack up

stack-down:
	scripts/stack down

stack-status:
	scripts/stack status

build:
	$(CARGO) build --workspace --bins

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean-demo:
	rm -rf .demo
