# Liaison: `make run` starts it, `make test` tests it, `make bench` measures it.
# Cargo's target dir may live outside the tree (CI sets CARGO_TARGET_DIR).

CARGO ?= cargo
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)

.PHONY: run run-distributed test bench build fmt lint validate-deploy clean

## Run every service in one process on the embedded defaults (SQLite, embedded bus).
run:
	$(CARGO) run --release -p liaison -- serve

## Run each service as its own process on the local PostgreSQL and NATS.
run-distributed: build
	LIAISON_BIN=$(abspath $(TARGET_DIR))/release/liaison deploy/local/run-distributed.sh

## Build the binary the end-to-end tests drive, then run every test.
test:
	$(CARGO) build -p liaison
	LIAISON_BIN=$(abspath $(TARGET_DIR))/debug/liaison $(CARGO) test --workspace --no-fail-fast

## Run the workloads of BENCHMARKS.md and print one table, ceilings included.
bench:
	$(CARGO) build --release -p liaison -p liaison-bench
	$(CARGO) run --release -p liaison-bench -- --liaison $(abspath $(TARGET_DIR))/release/liaison

build:
	$(CARGO) build --release -p liaison

fmt:
	$(CARGO) fmt --all

## Check deploy/docker-compose.yml and deploy/k8s with docker-compose and kubernetes-validate.
validate-deploy:
	deploy/validate.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

clean:
	$(CARGO) clean
