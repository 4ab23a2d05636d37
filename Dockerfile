# Multi-stage build: compile in the Rust image, run in a slim Debian as an unprivileged user.
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
USER keyward
WORKDIR /var/lib/keyward
# Listen on every interface inside the container; SQLite lives in the working directory unless DATABASE_URL says otherwise.
ENV KEYWARD_LISTEN=0.0.0.0:8080 \
    KEYWARD_LOG_FORMAT=json
EXPOSE 8080
VOLUME ["/var/lib/keyward"]
ENTRYPOINT ["/usr/local/bin/keyward"]
CMD ["serve"]
