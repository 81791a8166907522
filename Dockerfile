# syntax=docker/dockerfile:1
# The hipaa-operator image: a static (musl) binary on distroless, running as UID 65532.
#   docker build -t hipaa-operator:0.1.0 .
#   docker build --build-arg CARGO_BUILD_JOBS=8 -t hipaa-operator:0.1.0 .
# Multi-arch (amd64 and arm64 nodes), each platform built natively (QEMU on a single-arch host):
#   docker buildx build --platform linux/amd64,linux/arm64 -t <registry>/hipaa-operator:0.1.0 --push .

FROM rust:1.95-bookworm AS builder
ARG CARGO_BUILD_JOBS=2
ENV CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS} \
    CARGO_TERM_COLOR=never \
    CARGO_NET_RETRY=5
# musl-gcc for the C in ring; the musl target of the platform being built (x86_64 or aarch64)
# for a fully static binary.
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add "$(uname -m)-unknown-linux-musl"
WORKDIR /src
# The whole workspace: Cargo resolves every member (azure-sim, control-plane) even when only the
# operator binary is built. .dockerignore keeps target/ and .git/ out.
COPY . .
RUN target="$(uname -m)-unknown-linux-musl" \
 && cargo build --release --locked --bin hipaa-operator --target "$target" \
 && install -D -m 0755 "target/$target/release/hipaa-operator" /out/hipaa-operator

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=builder /out/hipaa-operator /usr/local/bin/hipaa-operator
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/hipaa-operator"]
