# internal-store as a container image. Two stages build it (`podman build .` or `docker build .`):
#   builder  compiles the release binary with the Rust toolchain image;
#   runtime  Debian slim, the binary alone, run as an unprivileged user (the default target).
# `prebuilt` is the runtime with a binary already built on the host instead (CI uses it with the
# binary its tests ran: `--target prebuilt --build-arg BINARY=target/debug/internal-store`).
# BASE is the runtime's base image; CI passes one made locally from Debian's packages, as no
# image registry is reachable there.
ARG BASE=docker.io/library/debian:bookworm-slim
ARG RUST=docker.io/library/rust:1.95-slim-bookworm

FROM ${RUST} AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin internal-store \
    && install -m 0755 target/release/internal-store /internal-store

FROM ${BASE} AS runtime-base
# A user of its own, no login shell, no home to write to: the service needs only its socket and
# PostgreSQL.
RUN groupadd --system internal-store \
    && useradd --system --gid internal-store --no-create-home --shell /usr/sbin/nologin internal-store
ENV BIND=0.0.0.0:8080 \
    APP_ENV=production \
    LOG_FORMAT=json
EXPOSE 8080
# Ready = the database answers (GET /health/ready is 200), checked with bash alone (no curl in
# the image). Migrations run on start, as on any host.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /health/ready HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
USER internal-store:internal-store
ENTRYPOINT ["/usr/local/bin/internal-store"]
CMD ["serve"]

FROM runtime-base AS prebuilt
ARG BINARY=target/release/internal-store
COPY --chmod=0755 ${BINARY} /usr/local/bin/internal-store

FROM runtime-base AS runtime
COPY --from=builder /internal-store /usr/local/bin/internal-store
