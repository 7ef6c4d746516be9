# Throughline — build, test and run. `make` alone lists the targets.
#
# Every Go module of the workspace (go.work) is covered by one package pattern:
# all module paths start with $(ROOT).

ROOT     := github.com/throughline/throughline
ALL      := $(ROOT)/...
# Directories holding a main package: services/<name>/cmd/<binary>.
CMDS     := $(wildcard services/*/cmd/*)
# Service modules, each of which must also build on its own (GOWORK=off).
SERVICES := $(patsubst %/go.mod,%,$(wildcard services/*/go.mod))

# The race detector stays on: the whole suite takes a few minutes with it on
# two cores, well inside CI's 90 minutes, and the pipeline is concurrent code
# (partitions, batches, producers). `make test RACE=` turns it off.
RACE       ?= -race
TESTFLAGS  ?= -count=1 -timeout 30m
# Passed to `throughline demo`, e.g. make demo DEMO_FLAGS="-log-level debug".
DEMO_FLAGS ?=

GO      ?= go
# Go files to format: everything but testdata (fuzz corpora, fixtures), data and bin.
GOFILES  = $(shell find . \( -name testdata -o -path ./data -o -path ./bin -o -path ./.git -o -name node_modules \) -prune -o -name '*.go' -print)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.DEFAULT_GOAL := help
.PHONY: help build libchdb demo test bench lint fmt clean

help: ## list the targets
	@echo "usage: make <target>"
	@echo
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z-]*:.*## / {printf "  %-9s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build every binary into bin/ and check each service module builds alone (GOWORK=off)
	@mkdir -p bin
	$(GO) build -o bin/ $(addprefix ./,$(CMDS))
	@for m in $(SERVICES); do \
		echo "GOWORK=off go build ./... in $$m"; \
		(cd $$m && GOWORK=off $(GO) build ./...) || exit 1; \
	done

libchdb: ## install libchdb.so, the embedded ClickHouse engine (~170 MB from npm, once)
	scripts/install-libchdb.sh

demo: libchdb build ## run the whole pipeline in one process with demo traffic (data in ./data)
	bin/throughline demo $(DEMO_FLAGS)

test: libchdb ## run every test of every module (RACE= to drop -race)
	$(GO) test $(RACE) $(TESTFLAGS) $$($(GO) list $(ALL) | grep -v -e '/e2e$$' -e '/internal/demo$$')
	@# The end-to-end packages run whole pipelines (several processes, embedded
	@# Kafka and ClickHouse each) against timeouts: one at a time, so two of
	@# them do not starve each other on a two-core machine.
	$(GO) test $(RACE) $(TESTFLAGS) -p 1 $(ROOT)/services/throughline/e2e $(ROOT)/services/throughline/internal/demo

bench: libchdb ## run the benchmarks and print figures and ratios against baselines (also in bench.out)
	scripts/bench.sh

lint: ## gofmt check, go vet and staticcheck across every module
	@out="$$(gofmt -l $(GOFILES))"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet $(ALL)
	$(GO) run $(STATICCHECK) $(ALL)

fmt: ## format every Go file
	@echo gofmt -w; gofmt -w $(GOFILES)

clean: ## remove build and benchmark outputs (not ./data: see docs/operations.md)
	rm -rf bin bench.out
