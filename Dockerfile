# Multi-stage build: compile in the Rust image, run in a slim Debian as a non-root user.
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends nasm && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin image-server

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /srv image-server \
 && mkdir -p /data && chown image-server /data
COPY --from=build /src/target/release/image-server /usr/local/bin/image-server
WORKDIR /srv
USER image-server
ENV IMG_LISTEN=0.0.0.0 \
    IMG_STORAGE=file:///data
VOLUME ["/data"]
EXPOSE 7000 7001
HEALTHCHECK --interval=10s --timeout=5s CMD ["/usr/local/bin/image-server", "health"]
ENTRYPOINT ["/usr/local/bin/image-server"]
CMD ["serve"]
