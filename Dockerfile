# Builds the operator image. The same binary serves every role the design
# gives it, so one image is enough.
#
#   docker build -t region-withdrawal-operator:dev .
FROM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH

WORKDIR /workspace

# Download modules in their own layer, so that a source change does not
# download them again.
COPY go.mod go.mod
COPY go.sum go.sum
RUN go mod download

# The Go sources of the binary: main.go, api/, controllers/, internal/ and
# cmd/. .dockerignore admits exactly these (and go.mod, go.sum), so one COPY
# takes them all and does not fail while one of them, such as cmd/, does not
# exist yet; hack/, bin/, config/ and tests stay out of the image.
COPY . .

# GOARCH has no default, so the image is built for the platform the build runs
# on unless --platform says otherwise.
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w" -o manager .

# distroless static:nonroot has no shell and no package manager, and runs as
# an unprivileged user.
FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /workspace/manager .
USER 65532:65532

ENTRYPOINT ["/manager"]
