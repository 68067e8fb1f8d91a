# Multi-stage build: compile in the Rust image, run in a slim Debian as a non-root user.
FROM rust:1.95-bookworm AS build
# nasm: libjpeg-turbo's SIMD; libavif-dev (with pkg-config): AVIF output (build.rs finds it).
RUN apt-get update && apt-get install -y --no-install-recommends nasm pkg-config libavif-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin image-server

FROM debian:bookworm-slim
# libavif15: the AVIF encoder the binary links (with libaom3).
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libavif15 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /srv image-server \
 && mkdir -p /data && chown image-server /data
COPY --from=build /src/target/release/image-server /usr/local/bin/image-server
# The server reads config/{ENV}.json relative to its working directory: /srv/config/production.json.
# Owned by root, so the server can read but not change it.
COPY config/ /srv/config/
WORKDIR /srv
USER image-server
# IMG_ENVIRONMENT=production picks config/production.json for every subcommand (serve, health,
# config), so the HEALTHCHECK reads the same ports as the server. Variables beat the file:
# IMG_STORAGE keeps the storage in the /data volume, IMG_LISTEN keeps the main port public even
# with `-e development`. Override with `-e IMG_ENVIRONMENT=...` or `serve -e ...`.
ENV IMG_ENVIRONMENT=production \
    IMG_LISTEN=0.0.0.0 \
    IMG_STORAGE=file:///data
VOLUME ["/data"]
EXPOSE 7000 7001
HEALTHCHECK --interval=10s --timeout=5s CMD ["/usr/local/bin/image-server", "health"]
ENTRYPOINT ["/usr/local/bin/image-server"]
CMD ["serve"]
