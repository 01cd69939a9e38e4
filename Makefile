# region-withdrawal-operator
#
# Every tool comes from bin/, built from pinned Go modules by hack/tools.sh, so
# a fresh machine needs Go, make, git and bash, and nothing else.

# Binary built from main.go.
OPERATOR ?= region-withdrawal-operator
# Image built by docker-build. There is no container engine on the build
# machines; the target is for machines that have one.
IMG ?= region-withdrawal-operator:dev

ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BIN := $(ROOT)/bin
# The real node's registry (hack/real-node.sh), where make demo releases to.
LOCAL_REGISTRY := 10.244.0.1:5000
CONTROLLER_GEN := $(BIN)/controller-gen

# Flags for `go test`. The test timeout bounds a whole package, envtest start
# included.
TEST_TIMEOUT ?= 10m
E2E_TIMEOUT ?= 30m
GO_TEST_FLAGS ?=

# Every go command here builds as hack/tools.sh and the release builds do:
# without cgo and with -trimpath. One set of flags keeps one compiled copy of
# each library in the build cache, so the tests and the image reuse what the
# tools' build compiled: on a fresh machine about 1,000 of the 1,235 packages
# the suite needs, as long as hack/tools/shared/go.mod selects the versions
# go.mod does for the libraries both use.
export CGO_ENABLED = 0
export GOFLAGS := $(strip $(GOFLAGS) -trimpath)

# Arguments for `make run`. Ports are loopback only.
RUN_ARGS ?= --metrics-bind-address=0 --health-probe-bind-address=127.0.0.1:8081

# Go files of this repository, wherever they are.
GO_FILES = $(shell find . -name '*.go' -not -path './bin/*' -not -path './.git/*' -not -path './.kwok/*' -not -path './tmp/*')

SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec
.DEFAULT_GOAL := help

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

# Ctrl-C reaches make and the demo alike (and tee, in `make demo | tee`):
# make waits for the demo's teardown before it exits, and passes a SIGTERM
# of its own on to it. exec makes the demo the recipe's process itself, so
# that what make passes on lands in the demo's trap, not in a shell between.
# Other signals sent to make's process alone are not passed on: send them to
# the process group (kill -INT -- -PGID), or to the demo.
.PHONY: demo
demo: ## Build everything, start the local cluster with a real node and carry out a compressed Pakistan withdrawal for real (needs root; DRY_RUN=1 rehearses; Ctrl-C stops it all).
	DEMO_DRY_RUN=$(or $(DRY_RUN),0) exec hack/demo.sh

##@ Development

.PHONY: tools
tools: ## Build every pinned tool into bin/ (cached by version; the first run takes a while).
	hack/tools.sh

.PHONY: generate
generate: controller-gen ## Generate DeepCopy methods for the API types.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: manifests
manifests: controller-gen ## Generate the CRD and RBAC into config/, copy both into the Helm chart, and write docs/api.md.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd webhook paths=./... output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	go run ./hack/chartgen $(ROOT)
	go run ./hack/apidocs api/v1alpha1 docs/api.md

.PHONY: fmt
fmt: ## Format the Go code.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: ## Check formatting and run go vet, without changing anything.
	@unformatted="$$(gofmt -l $(GO_FILES))"; \
	if [[ -n "$$unformatted" ]]; then \
		echo "These files are not gofmt-ed; run 'make fmt':"; echo "$$unformatted"; exit 1; \
	fi
	go vet ./...

.PHONY: verify
verify: controller-gen ## Fail if generated files or go.mod/go.sum are stale.
	hack/verify.sh

.PHONY: test
test: tools ## Run the whole suite: verify, alert rules, unit, envtest, integration, chart, the end-to-end tests on a simulated cluster, and the withdrawal on a real node (needs root).
	$(MAKE) --no-print-directory verify
	$(MAKE) --no-print-directory test-rules
	# What the test binaries share is compiled once, before two go commands
	# would each compile it (GOGC as in hack/tools.sh).
	GOGC=400 go build -tags=e2e ./...
	# The cluster packages take ten minutes or more, mostly waiting on a
	# compressed withdrawal's timeline, with more than half of the CPU idle:
	# the rest of the suite and the fuzzing run beside them, not after them.
	$(MAKE) --no-print-directory -j2 --output-sync=line test-clusters test-rest

# The packages that start clusters (simulated ones, and the real node).
CLUSTER_PKGS = ./test/e2e/...

.PHONY: test-clusters
test-clusters:
	# They get E2E_TIMEOUT.
	PATH="$(BIN):$$PATH" KUBEBUILDER_ASSETS="$(BIN)" go test -tags=e2e $(CLUSTER_PKGS) -count=1 -timeout=$(E2E_TIMEOUT) $(GO_TEST_FLAGS)

.PHONY: test-rest
test-rest:
	PATH="$(BIN):$$PATH" KUBEBUILDER_ASSETS="$(BIN)" go test -tags=e2e $$(go list -tags=e2e ./... | grep -v '/test/e2e') -count=1 -timeout=$(E2E_TIMEOUT) $(GO_TEST_FLAGS)
	$(MAKE) --no-print-directory fuzz-ci

.PHONY: test-rules
test-rules: ## Check the alert rules in config/prometheus and run their unit tests with promtool.
	hack/tools.sh promtool
	$(BIN)/promtool check rules config/prometheus/rules.yaml
	$(BIN)/promtool test rules config/prometheus/rules_test.yaml

.PHONY: test-unit
test-unit: envtest-tools ## Run every test but the end-to-end ones (no kwok tools needed).
	KUBEBUILDER_ASSETS="$(BIN)" go test $$(go list ./... | grep -v '/test/e2e') -count=1 -timeout=$(TEST_TIMEOUT) $(GO_TEST_FLAGS)

.PHONY: test-e2e
test-e2e: tools ## Run only the end-to-end tests against a local simulated cluster (kwok), verbosely.
	PATH="$(BIN):$$PATH" KUBEBUILDER_ASSETS="$(BIN)" go test -tags=e2e ./test/e2e/... -count=1 -timeout=$(E2E_TIMEOUT) -v $(GO_TEST_FLAGS)

.PHONY: chaos
chaos: tools ## Run the full chaos suite on simulated clusters: 20 kills, API server outages, a leader killed twice, a flapping webhook (about 20 minutes; CHAOS_COUNT=N repeats each test).
	PATH="$(BIN):$$PATH" KUBEBUILDER_ASSETS="$(BIN)" RWO_CHAOS=full go test -tags=e2e ./test/e2e -run '^Test(Chaos|Operator)' -count=$(or $(CHAOS_COUNT),1) -timeout=$(or $(CHAOS_TIMEOUT),90m) -v $(GO_TEST_FLAGS)

.PHONY: bench
bench: envtest-tools ## Benchmark the controller on envtest: idle reconciles per minute with 1,000 withdrawals, lateness of 200 due in one second.
	KUBEBUILDER_ASSETS="$(BIN)" go run ./hack/bench/reconcile $(BENCH_ARGS)

.PHONY: bench-report
bench-report: tools ## Run every benchmark one after another (about an hour on 2 cores; use a quiet machine) and write docs/benchmarks.md.
	PATH="$(BIN):$$PATH" KUBEBUILDER_ASSETS="$(BIN)" go run ./hack/bench/report $(REPORT_ARGS)

# Flags for every fuzz run. `go test -fuzz` takes one package and one target,
# so each target is a run of its own. The fuzzer minimises every new input it
# keeps, for up to -fuzzminimizetime (60s unless told): left at that, one
# minimisation can take the whole of a short run.
FUZZ_FLAGS = -run '^$$' -parallel $(or $(FUZZPARALLEL),1) -fuzzminimizetime $(or $(FUZZMINIMIZETIME),5s)

# fuzz-run fuzzes target $(2) of package $(1) for $(3). Go 1.26 can fail a
# run that found nothing with a bare "context deadline exceeded" as -fuzztime
# runs out (go.dev/issue/75804, fixed in Go 1.27): that failure, and no
# other, is reported and passed over.
define fuzz-run
@echo "go test $(1) $(FUZZ_FLAGS) -fuzz '^$(2)$$' -fuzztime $(3)"
@out="$$(mktemp)"; trap 'rm -f "$$out"' EXIT; \
if go test $(1) $(FUZZ_FLAGS) -fuzz '^$(2)$$' -fuzztime $(3) 2>&1 | tee "$$out"; then exit 0; fi; \
if [[ "$$(grep -c -e '--- FAIL' "$$out")" == 1 && "$$(grep -A1 -e '^--- FAIL: $(2) ' "$$out" | tail -n 1)" == '    context deadline exceeded' ]] \
	&& ! grep -q 'Failing input written' "$$out"; then \
	echo "$(2) in $(1) found nothing; its failure is Go's fuzzing deadline race (go.dev/issue/75804), passed over."; exit 0; \
fi; \
exit 1
endef

# fuzz-each fuzzes, in turn and each for $(1), the targets whose packages'
# tests link nothing of client-go or controller-runtime: -fuzz instruments
# everything a test binary links, and these share one instrumented build of
# 147 packages besides the standard library (761 before the pure code was
# split from what reads the cluster). Keep them so (docs/testing.md).
define fuzz-each
$(call fuzz-run,./internal/planner,FuzzPlan,$(1))
$(call fuzz-run,./internal/export/result,FuzzParse,$(1))
$(call fuzz-run,./internal/recipients,FuzzParse,$(1))
$(call fuzz-run,./internal/notify/render,FuzzTemplate,$(1))
$(call fuzz-run,./internal/notify/webhook,FuzzVerify,$(1))
endef

.PHONY: fuzz
fuzz: ## Fuzz the planner, export results, recipient lists and their walk, notice templates and the webhook verifier in turn, each for FUZZTIME (default 60s) with FUZZPARALLEL workers (default 1).
	$(call fuzz-each,$(or $(FUZZTIME),60s))
	# Reads through a controller-runtime client: not in fuzz-ci (see fuzz-each).
	$(call fuzz-run,./internal/recipients/sources,FuzzEach,$(or $(FUZZTIME),60s))

# The bounded run `make test` does: 10s a target.
.PHONY: fuzz-ci
fuzz-ci:
	$(call fuzz-each,10s)

##@ Build

.PHONY: build
build: generate ## Build the operator and the kubectl plugin (kubectl-withdrawal) into bin/.
	go build -o bin/$(OPERATOR) .
	go build -o bin/kubectl-withdrawal ./cmd/kubectl-withdrawal

.PHONY: krew
krew: ## Package the kubectl plugin for krew: an archive per platform and dist/withdrawal.yaml (VERSION=vX.Y.Z; the chart's appVersion by default).
	go run ./hack/krew -out dist $(if $(VERSION),-version $(VERSION))

.PHONY: release
release: ## Push a release to an OCI registry: the multi-arch image index, its SBOM, and the chart (helm push); files and SHA256SUMS in dist/VERSION (VERSION=vX.Y.Z REGISTRY=host[:port][/path]; PLAIN_HTTP=1 for a local registry such as the real node's, 10.244.0.1:5000).
	@test -n "$(VERSION)" -a -n "$(REGISTRY)" || { echo "usage: make release VERSION=vX.Y.Z REGISTRY=host[:port][/path] [PLAIN_HTTP=1]" >&2; exit 2; }
	hack/tools.sh helm cyclonedx-gomod
	go run ./hack/release -version $(VERSION) -registry $(REGISTRY) -out dist/$(VERSION) $(if $(PLAIN_HTTP),-plain-http) $(if $(PLATFORMS),-platforms $(PLATFORMS))

.PHONY: run
run: generate ## Run the operator from source against the current kubeconfig (KUBECONFIG or ~/.kube/config).
	go run . $(RUN_ARGS)

.PHONY: image
image: ## Build the operator, pause and sample-app images as OCI archives into bin/images/ (no container engine needed); load them into the real node when it is up.
	go run ./hack/image -out $(BIN)/images
	@if RWO_REAL_NODE=1 hack/local-cluster.sh status >/dev/null 2>&1; then RWO_REAL_NODE=1 hack/local-cluster.sh load-images; fi

.PHONY: docker-build
docker-build: ## Build the container image with a container engine (the same content as make image).
	docker build -t $(IMG) .

##@ Local cluster

.PHONY: install
install: ## Install the CRD into the current kubeconfig's cluster.
	"$(BIN)/kubectl" apply --server-side -f config/crd/bases

.PHONY: uninstall
uninstall: ## Remove the CRD (and every RegionWithdrawal) from the current kubeconfig's cluster.
	"$(BIN)/kubectl" delete --ignore-not-found -f config/crd/bases

.PHONY: cluster-up
cluster-up: ## Start the local simulated cluster (hack/local-cluster.sh up).
	hack/local-cluster.sh up

.PHONY: cluster-up-real
cluster-up-real: image ## Start the local cluster with one real node (containerd, kubelet, kube-proxy, Traefik on 127.0.0.1:18080); needs root.
	RWO_REAL_NODE=1 hack/local-cluster.sh up

.PHONY: cluster-down
cluster-down: ## Delete the local simulated cluster and stop its processes.
	hack/local-cluster.sh down

##@ Tools

.PHONY: controller-gen
controller-gen: ## Build controller-gen into bin/.
	hack/tools.sh controller-gen

# What `make test` needs: envtest's etcd, kube-apiserver and kubectl, and
# controller-gen for verify. The kwok tools are needed only by test-e2e.
.PHONY: envtest-tools
envtest-tools:
	hack/tools.sh etcd kube-apiserver kubectl controller-gen helm
