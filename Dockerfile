# The collector image: `scratch` holding the collector, the few shared libraries
# it loads (the Rust core is linked in through cgo), CA certificates and a
# default config, laid out like the official otelcol-contrib image: config at
# /etc/otelcol-contrib/config.yaml, user 10001, `--config` as the command.
#
#   docker build -t otelcol-sentry .        # builds everything in the stages below
#   make image                              # the same final stage, with podman, from
#                                           # a root filesystem assembled on the host
#
# `make image` passes --build-arg ROOTFS=prebuilt, so the builder stages are skipped
# and no base image is pulled.
ARG ROOTFS=build

FROM rust:1-bookworm AS core
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY rust rust
COPY include include
RUN cargo build --release -p sentry-exporter-ffi

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY . .
COPY --from=core /src/target/release/libsentry_exporter.a target/release/
RUN make collector && scripts/rootfs.sh _build/otelcol-sentry examples/otel.yaml /rootfs

FROM scratch AS prebuilt
COPY rootfs/ /rootfs/

FROM ${ROOTFS} AS rootfs

FROM scratch
COPY --from=rootfs /rootfs/ /
# Where the file_storage extension keeps a persistent sending queue; a volume
# mounted here starts out owned by the collector's user.
COPY --from=rootfs --chown=10001:10001 /rootfs/var/lib/otelcol /var/lib/otelcol
USER 10001
# The default config listens on every interface inside the container.
ENV OTELCOL_LISTEN_HOST=0.0.0.0
# OTLP gRPC, OTLP HTTP, health_check, the collector's own metrics
EXPOSE 4317 4318 13133 8888
ENTRYPOINT ["/otelcol-sentry"]
CMD ["--config", "/etc/otelcol-contrib/config.yaml"]
