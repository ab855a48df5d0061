# Gatehouse: one static binary. `make test` is the whole suite (CI runs it).
GO       ?= go
VERSION  ?= 0.1.0-dev
LDFLAGS  := -s -w -X gatehouse/internal/cli.version=$(VERSION)
BIN      := bin/gatehouse
# Build tags: gatehouse_gemini adds the native Gemini provider (+15 MB);
# gatehouse_omit_openai / gatehouse_omit_anthropic drop those SDKs.
TAGS     ?=

export CGO_ENABLED ?= 0

# Where `make test` runs Podman's Docker-compatible API for the docker
# sandbox tests, when podman is installed.
PODMAN_DIR ?= /var/tmp/gatehouse-podman

.PHONY: build build-lean run test lint bench clean peers

build:
	$(GO) build -trimpath -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/gatehouse

# Without the LLM SDKs (about 15 MB instead of 37 MB): for trying the gateway
# itself. Drop one omit tag to keep that provider.
LEAN_TAGS := gatehouse_omit_openai,gatehouse_omit_anthropic
build-lean:
	$(GO) build -trimpath -tags '$(LEAN_TAGS)' -ldflags '$(LDFLAGS)' -o bin/gatehouse-lean ./cmd/gatehouse

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
	@[ test/peers/node_modules/.package-lock.json -nt test/peers/package-lock.json ] || npm ci --prefix test/peers --no-audit --no-fund

test: lint build peers
	@file $(BIN) 2>/dev/null | grep -q 'statically linked' || { echo "$(BIN) is not statically linked"; exit 1; }
	@if command -v podman >/dev/null 2>&1; then eval "$$(test/peers/podman.sh start $(PODMAN_DIR))"; \
	  else echo "podman not installed: the docker sandbox tests skip (apt-get install podman runc busybox-static)"; fi; \
	  CGO_ENABLED=1 $(GO) test -race -count=1 ./...
	CGO_ENABLED=1 $(GO) test -race -count=1 -tags gatehouse_gemini ./internal/llm/...

bench: build
	bench/startup.sh $(BIN)
	CGO_ENABLED=0 $(GO) run ./bench/sandbox -backend native -n 500
	@if command -v podman >/dev/null 2>&1; then eval "$$(test/peers/podman.sh start $(PODMAN_DIR))"; \
	  CGO_ENABLED=0 $(GO) run ./bench/sandbox -backend docker -n 200 -image gatehouse-sandbox-test:busybox; fi
	$(GO) test -run '^$$' -bench 'BenchmarkTurn' -benchtime 3s -count 3 ./internal/agent/
	$(GO) test -run '^$$' -bench 'BenchmarkRouterThroughput' -benchtime 3000x -count 3 ./internal/gateway/

clean:
	rm -rf bin
