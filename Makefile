# berth — see README.md. Every tool the tests use is pinned in .ci/tools.sh.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
TOOLS := $(CURDIR)/.tools/bin
DATA_DIR ?= ./berth-data
ADDR ?= 127.0.0.1:5000
GO_TEST_FLAGS ?= -count=1 -timeout 30m

.PHONY: all build run test unit e2e conformance tools lint fmt clean bench bench-gc bench-retention image

all: build

## build: compile bin/berth (static, CGO_ENABLED=0)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/berth ./cmd/berth

## image: the container image $(IMAGE) (static bin/berth on scratch, built offline; see deploy/Dockerfile)
IMAGE ?= berth:latest
image: build
	VERSION='$(VERSION)' COMMIT='$(COMMIT)' bash deploy/image.sh bin/berth $(IMAGE)

## run: serve with embedded defaults (filesystem storage in $(DATA_DIR))
run: build
	./bin/berth serve --addr $(ADDR) --data-dir $(DATA_DIR)

## tools: install the pinned test tools into .tools/bin (and Debian's skopeo, postgresql)
tools:
	bash .ci/tools.sh

## test: every test: unit, end-to-end with real clients on filesystem and MinIO, conformance on both, the image and the Helm chart (deploy/)
test: tools build
	$(GO) vet ./...
	$(GO) -C deploy/kubecheck vet ./...
	bash .ci/conformance.sh filesystem
	bash .ci/conformance.sh minio
	$(GO) test $(GO_TEST_FLAGS) ./...
	$(GO) -C deploy/kubecheck test $(GO_TEST_FLAGS) ./...

## unit: only the fast tests (no 1 GiB push)
unit:
	$(GO) test -short $(GO_TEST_FLAGS) ./...
	$(GO) -C deploy/kubecheck test -short $(GO_TEST_FLAGS) ./...

## e2e: the end-to-end tests: real berth processes, MinIO, PostgreSQL and clients (cmd/berth/e2e)
e2e: tools build
	$(GO) test $(GO_TEST_FLAGS) ./cmd/berth/e2e/

## conformance: the OCI distribution-spec conformance suite on both backends
conformance: tools build
	bash .ci/conformance.sh filesystem
	bash .ci/conformance.sh minio

## lint: go vet, gofmt and staticcheck
lint: tools
	$(GO) vet ./...
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(TOOLS)/staticcheck ./...
	$(GO) -C deploy/kubecheck vet ./...
	cd deploy/kubecheck && $(TOOLS)/staticcheck ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin

## bench: berth vs the stock registry side by side, written to docs/benchmarks.md (not part of test; see README "Benchmarks")
BENCH_FLAGS ?=
bench: build
	bash .ci/tools.sh go
	$(GO) run ./cmd/berthbench -out docs/benchmarks.md $(BENCH_FLAGS)

## bench-gc: garbage-collection throughput and memory (MinIO + PostgreSQL, filesystem + SQLite; see docs/benchmarks.md)
bench-gc: tools
	BERTH_BENCH=1 $(GO) test ./registry/gc -run TestGCScale -count=1 -v -timeout 60m

## bench-retention: a retention run over a million tags (SQLite and PostgreSQL; BERTH_BENCH_RET_TAGS, _REPOS, _DB, _PUSH_RATE; see docs/benchmarks.md)
## PostgreSQL runs as a server would: durability on, with BENCH_PG_SETTINGS (a server sized for bulk writes,
## whose backends hand the pages they write out to the disk as they go rather than leave them to the kernel's bursts)
BENCH_PG_SETTINGS ?= shared_buffers=1GB max_wal_size=8GB checkpoint_timeout=15min backend_flush_after=256kB
bench-retention: tools
	BERTH_BENCH=1 BERTH_TEST_PG_DURABLE=1 BERTH_TEST_PG_SETTINGS="$(BENCH_PG_SETTINGS)" $(GO) test ./registry/retention -run TestRetentionScale -count=1 -v -timeout 180m
