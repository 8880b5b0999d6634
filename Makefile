# Meridian: build, run, test, benchmark.
#
#   make run     build and start the geo testbed (the embedded default topology)
#   make serve   build and serve the sample zones on 127.0.0.1:5353
#   make test    vet, staticcheck, race tests on zone/ and server/, the rest,
#                and every fuzz target's seed corpus
#   make bench   Go benchmarks, then dnsperf against meridian, NSD, Knot, Unbound
#   make fuzz    each fuzz target for FUZZTIME (default 30s), one at a time

GO       ?= go
MODULE   := $(shell $(GO) list -m)
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
BIN      := bin/meridian
FUZZTIME ?= 30s

# staticcheck is installed on first use, pinned, so a fresh machine needs
# nothing but Go.
STATICCHECK_VERSION := v0.8.2
GOBIN       := $(or $(shell $(GO) env GOBIN),$(firstword $(subst :, ,$(shell $(GO) env GOPATH)))/bin)
STATICCHECK := $(GOBIN)/staticcheck

# zone/, server/, resolver/ and testbed/ hold the concurrent code and run with -race;
# everything else (cmd/, which builds and drives the binary) runs without it.
RACE_PKGS  := ./zone/... ./server/... ./resolver/... ./testbed/...
OTHER_PKGS  = $(shell $(GO) list ./... | grep -v -e '^$(MODULE)/zone' -e '^$(MODULE)/server' -e '^$(MODULE)/resolver' -e '^$(MODULE)/testbed')

.PHONY: all build run serve test lint vet bench fuzz clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/meridian

# The main job: a whole multi-region hierarchy on this machine, as an
# unprivileged user. It prints the servers and what to try.
run: build
	./$(BIN) testbed

# One authoritative server on the sample zones.
serve: build
	@echo
	@echo "Serving testdata/zones/sample on 127.0.0.1:5353 (UDP and TCP); metrics on http://127.0.0.1:9153/metrics"
	@echo "Try:"
	@echo "  dig @127.0.0.1 -p 5353 www.example.com A"
	@echo "Stop with Ctrl-C; reload the zones with: kill -HUP <pid>"
	@echo
	./$(BIN) auth -config testdata/meridian.yaml

# Plain `go test` also runs every Fuzz* function over its seed corpus
# (f.Add and testdata/fuzz/), so no -run filter may exclude them here.
test: lint
	$(GO) test -race -timeout=15m $(RACE_PKGS)
	$(GO) test -timeout=10m $(OTHER_PKGS)

lint: vet $(STATICCHECK)
	@unformatted=$$(gofmt -l .); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(STATICCHECK) ./...

vet:
	$(GO) vet ./...

$(STATICCHECK):
	GOBIN=$(GOBIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# The benchmark scripts are kept with the other benchmark data: auth.sh runs
# dnsperf against meridian auth, NSD and Knot on one generated zone;
# resolver.sh against meridian resolver and Unbound on the test hierarchy
# (it needs root for port 53, and says so and skips without it); xfr.sh
# times a full AXFR of 1M names and a 10-record IXFR against Knot.
bench: build
	$(GO) test -run='^$$' -bench=. -benchmem ./zone/ ./server/
	MERIDIAN=$(CURDIR)/$(BIN) bash testdata/bench/auth.sh
	MERIDIAN=$(CURDIR)/$(BIN) bash testdata/bench/resolver.sh
	MERIDIAN=$(CURDIR)/$(BIN) bash testdata/bench/xfr.sh

# Each fuzz target runs alone: go test -fuzz accepts one target per run.
# Packages without "func Fuzz" in a test file are not compiled to list them.
fuzz:
	@set -e; $(GO) list -f '{{.ImportPath}} {{.Dir}}' ./... | while read -r pkg dir; do \
		grep -qs '^func Fuzz' "$$dir"/*_test.go || continue; \
		for target in $$($(GO) test -list '^Fuzz' "$$pkg" | grep '^Fuzz'); do \
			echo "== $$pkg $$target ($(FUZZTIME))"; \
			$(GO) test -run='^$$' -fuzz="^$$target\$$" -fuzztime=$(FUZZTIME) "$$pkg"; \
		done; \
	done

clean:
	rm -rf bin
