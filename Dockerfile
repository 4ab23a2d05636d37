# Multi-stage build: the console in a Node image, Keyward in the Rust image, both run from a slim Debian as an
# unprivileged user.
FROM node:22-bookworm-slim AS console
WORKDIR /src
# The console depends on the TypeScript client as a folder (its dist/ is committed).
COPY openapi/client ./openapi/client
COPY console ./console
RUN cd console && npm ci --no-audit --no-fund && npm run build

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml ./
COPY entity ./entity
COPY migration ./migration
COPY src ./src
COPY tests ./tests
COPY clippy.toml ./
RUN cargo build --release --bin keyward

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/keyward --create-home keyward
COPY --from=build /src/target/release/keyward /usr/local/bin/keyward
COPY --from=console /src/console/dist /usr/share/keyward/console
USER keyward
WORKDIR /var/lib/keyward
# Listen on every interface inside the container; SQLite lives in the working directory (a volume) unless
# DATABASE_URL says otherwise, so the console is found by an absolute path.
ENV KEYWARD_LISTEN=0.0.0.0:8080 \
    KEYWARD_LOG_FORMAT=json \
    KEYWARD_CONSOLE_DIR=/usr/share/keyward/console
EXPOSE 8080
VOLUME ["/var/lib/keyward"]
ENTRYPOINT ["/usr/local/bin/keyward"]
CMD ["serve"]
