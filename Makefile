# Gatehouse: one static binary. `make test` is the whole suite (CI runs it).
GO       ?= go
VERSION  ?= 0.1.0-dev
LDFLAGS  := -s -w -X gatehouse/internal/cli.version=$(VERSION)
BIN      := bin/gatehouse

export CGO_ENABLED ?= 0

.PHONY: build run test lint bench clean peers

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/gatehouse

# Build, onboard on first use, and run the gateway on its defaults.
run: build
	$(BIN) gateway run --dev

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# The whole suite: formatting, vet, a static build, and every test (fuzz seed
# corpora included) under the race detector.
# Third-party peers the tests run on loopback (aimock), from the npm registry.
peers:
	@[ -d test/peers/node_modules/@copilotkit/aimock ] || npm ci --prefix test/peers --no-audit --no-fund

test: lint build peers
	@file $(BIN) 2>/dev/null | grep -q 'statically linked' || { echo "$(BIN) is not statically linked"; exit 1; }
	CGO_ENABLED=1 $(GO) test -race -count=1 ./...

bench: build
	bench/startup.sh $(BIN)

clean:
	rm -rf bin
