# krserve — run `make help` for the targets.
SHELL := /bin/bash
GO ?= go
GOBIN ?= $(shell $(GO) env GOPATH)/bin
export PATH := $(GOBIN):$(PATH)
NATSCLI_VERSION ?= v0.5.0
BIN := bin/krserve
RUN_FLAGS ?=

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build bin/krserve
	$(GO) build -o $(BIN) ./cmd/krserve

.PHONY: run
run: build ## start embedded NATS + every worker + the default model (the main job)
	./$(BIN) up $(RUN_FLAGS)

.PHONY: tools
tools: ## install the tools the tests drive (nats CLI, promtool)
	@command -v nats >/dev/null 2>&1 || $(GO) install github.com/nats-io/natscli/nats@$(NATSCLI_VERSION)
	@command -v promtool >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null)

.PHONY: test
test: tools lint ## every test, with the race detector
	$(GO) test -race -timeout 30m ./...

.PHONY: lint
lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME each (default 10s)
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-10s} $$pkg || exit 1; \
	  done; \
	done

.PHONY: bench
bench: ## Go benchmarks (short); see docs/BENCHMARKS.md for the krserve bench commands
	$(GO) test -run '^$$' -bench . -benchtime 200ms -benchmem ./...

DURATION ?= 10m
SOAK_MODEL ?= ../shared/models/stories260K.gguf
SOAK_FLAGS ?=

.PHONY: soak
soak: build ## steady mixed load for DURATION (default 10m) on SOAK_MODEL; fails on errors or > 5 % memory growth
	./$(BIN) bench soak --model $(SOAK_MODEL) --duration $(DURATION) --kv-mb 16 $(SOAK_FLAGS)

.PHONY: clean
clean: ## remove build output
	rm -rf bin
