# Liaison: `make run` starts it, `make test` tests it, `make bench` measures it.
# Cargo's target dir may live outside the tree (CI sets CARGO_TARGET_DIR).

CARGO ?= cargo
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)

.PHONY: run run-distributed test test-fast contract load bench build fmt lint validate-deploy clean

# SQL written once and `include!`d into a module per backend: `cargo fmt`
# never reaches these files, so `fmt` and `lint` name them.
INCLUDED_RS := $(sort $(wildcard services/*/src/storage/*_sql.rs))

## Run every service in one process on the embedded defaults (SQLite, embedded bus).
run:
	$(CARGO) run --release -p liaison -- serve

## Run each service as its own process on the local PostgreSQL and NATS.
run-distributed: build
	LIAISON_BIN=$(abspath $(TARGET_DIR))/release/liaison deploy/local/run-distributed.sh

## Unit, domain and in-process SQLite service tests: no server needed, for
## the edit-compile-test loop. Tests that need PostgreSQL or NATS carry
## `postgres` or `nats` in their name and are skipped (ADR 0007).
test-fast:
	$(CARGO) test --workspace --exclude liaison-tests --exclude liaison-bench -- --skip postgres --skip nats

## Build the binary the end-to-end tests drive, then run every test, the
## API contract and the bounded load on the HTTP port.
test:
	$(CARGO) build -p liaison
	LIAISON_BIN=$(abspath $(TARGET_DIR))/debug/liaison $(CARGO) test --workspace --no-fail-fast
	LIAISON_BIN=$(abspath $(TARGET_DIR))/debug/liaison tests/contract/schemathesis.sh
	python3 tests/load/gateway_under_load.py --liaison $(abspath $(TARGET_DIR))/debug/liaison

## The live API against its OpenAPI document (schemathesis, every operation).
contract:
	$(CARGO) build -p liaison
	LIAISON_BIN=$(abspath $(TARGET_DIR))/debug/liaison tests/contract/schemathesis.sh

## Slow connections and parallel logins on loopback while /healthz is
## watched: fails when memory or open files pass their bounds.
load:
	$(CARGO) build -p liaison
	python3 tests/load/gateway_under_load.py --liaison $(abspath $(TARGET_DIR))/debug/liaison

## Run the workloads of BENCHMARKS.md and print one table, ceilings included.
bench:
	$(CARGO) build --release -p liaison -p liaison-bench
	$(CARGO) run --release -p liaison-bench -- --liaison $(abspath $(TARGET_DIR))/release/liaison

build:
	$(CARGO) build --release -p liaison

fmt:
	$(CARGO) fmt --all
	rustfmt --edition 2021 $(INCLUDED_RS)

## Check deploy/docker-compose.yml and deploy/k8s with docker-compose and
## kubernetes-validate, and each process's settings with the binary.
validate-deploy:
	$(CARGO) build -p liaison
	LIAISON_BIN=$(abspath $(TARGET_DIR))/debug/liaison deploy/validate.sh

lint:
	$(CARGO) fmt --all -- --check
	rustfmt --edition 2021 --check $(INCLUDED_RS)
	$(CARGO) clippy --workspace --all-targets -- -D warnings

clean:
	$(CARGO) clean
