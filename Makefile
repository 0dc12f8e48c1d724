# noderemover — run `make help` for the targets.
GO        ?= go
BIN       ?= bin/noderemover
BENCHTIME ?= 5x
# A count, not a duration: with go1.26 a duration-based -fuzztime can fail with
# a spurious "context deadline exceeded" at its end (golang/go#75804).
FUZZTIME  ?= 50000x

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: demo
demo: ## run the whole product in process (embedded Redis, fake CCE) and show removals
	$(GO) run ./cmd/noderemover demo

.PHONY: kube-tools
kube-tools: ## build the tests' Kubernetes control plane (etcd, kube-apiserver, ..., kwok) and helm from pinned Go modules; cached, about 10 minutes cold
	@tools/build.sh >/dev/null

.PHONY: test
test: kube-tools ## run every test with the race detector (starts private redis-servers and a Kubernetes control plane)
	NODEREMOVER_KUBE_BIN=$$(tools/build.sh) $(GO) test -race -count=1 -timeout 20m ./...

.PHONY: test-chaos
test-chaos: kube-tools ## only the crash test: workers SIGKILLed, Redis restarted, CCE faults (about 2 minutes; make test runs it too)
	NODEREMOVER_KUBE_BIN=$$(tools/build.sh) $(GO) test -race -count=1 -timeout 10m -run '^TestChaos$$' -v ./test

.PHONY: build
build: ## build the static binary into bin/
	CGO_ENABLED=0 $(GO) build -buildvcs=auto -trimpath -ldflags="-s -w" -o $(BIN) ./cmd/noderemover

.PHONY: lint
lint: ## go vet, staticcheck (pinned in go.mod) and gofmt
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	@test -z "$$(gofmt -l .)" || { echo "not gofmt-formatted:"; gofmt -l .; exit 1; }

.PHONY: bench
bench: kube-tools ## run the benchmarks (figures go in the README; the backlog runs take about 4 minutes, the drain about 2)
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) $$($(GO) list ./... | grep -v /test$$)
	$(GO) test -run '^$$' -bench RemovalsProcess -benchtime $(BENCHTIME) ./test
	$(GO) test -run '^$$' -bench Backlog -benchtime 1x -timeout 30m ./test
	NODEREMOVER_KUBE_BIN=$$(tools/build.sh) $(GO) test -run '^$$' -bench Drain -benchtime 1x -timeout 20m ./test

.PHONY: fuzz
fuzz: ## run every fuzz test for FUZZTIME executions each (default 50000x)
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done
