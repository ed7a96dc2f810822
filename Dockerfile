# The gateway's image: built in a Rust image, run from an empty one that holds only the binary, the
# shared libraries it links, CA certificates and a default configuration (about 20 MB).
#
#   docker build -t immich-mcp-gateway .
#   docker run -p 8080:8080 -e IMMICH_GATEWAY__IMMICH__BASE_URL=http://immich:2283 immich-mcp-gateway
#
# CI, which reaches no image registry, builds the same last stage from a binary built on the host:
#   deploy/container/gather target/release/immich-mcp-gateway deploy/container/out
#   podman build --build-arg PREBUILT=yes -t immich-mcp-gateway .
ARG PREBUILT=no

FROM docker.io/library/rust:1-bookworm AS gathered-no
RUN apt-get update && apt-get install -y --no-install-recommends cmake && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --no-default-features --bin immich-mcp-gateway \
 && deploy/container/gather target/release/immich-mcp-gateway /out

FROM scratch AS gathered-yes
COPY deploy/container/out/ /out/

FROM gathered-${PREBUILT} AS gathered

FROM scratch
COPY --from=gathered /out/ /
# An unprivileged user (distroless's "nonroot"); the gateway writes nothing but /tmp.
USER 65532:65532
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD ["/usr/local/bin/immich-mcp-gateway", "--probe", "http://127.0.0.1:8080/health"]
ENTRYPOINT ["/usr/local/bin/immich-mcp-gateway"]
CMD ["--config", "/etc/immich-mcp-gateway/gateway.toml"]
