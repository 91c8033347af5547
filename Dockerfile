# syntax=docker/dockerfile:1

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
RUN cargo build --release -p sluice \
 && cp target/release/sluice /usr/local/bin/sluice

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/sluice --shell /usr/sbin/nologin sluice \
 && mkdir -p /etc/sluice /var/lib/sluice \
 && chown sluice:sluice /var/lib/sluice
COPY --from=builder /usr/local/bin/sluice /usr/local/bin/sluice
USER sluice
WORKDIR /var/lib/sluice
VOLUME ["/var/lib/sluice"]
EXPOSE 6432 6033 9480
ENTRYPOINT ["sluice"]
CMD ["serve", "--config", "/etc/sluice/sluice.toml"]
