# Stadtbus container image: build with the Swift toolchain, run on Debian 12 slim with the
# same C libraries the scripts install (librabbitmq, libxml2, libxslt, xmlsec1-openssl, sqlite).
FROM swift:6.0-bookworm AS build
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        librabbitmq-dev libxml2-dev libxslt1-dev libxmlsec1-dev libxmlsec1-openssl libssl-dev \
        libcurl4-openssl-dev libsqlite3-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY adapters ./adapters
COPY Tests ./Tests
RUN swift build -c release --product stadtbus --static-swift-stdlib \
    && install -D "$(swift build -c release --show-bin-path)/stadtbus" /out/stadtbus

FROM debian:bookworm-slim
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        librabbitmq4 libxml2 libxslt1.1 libxmlsec1 libxmlsec1-openssl libssl3 libcurl4 libsqlite3-0 \
        ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/stadtbus --create-home stadtbus \
    && install -d -o stadtbus -g stadtbus /var/lib/stadtbus/inbox/rechnungen
COPY --from=build /out/stadtbus /usr/local/bin/stadtbus
COPY config /etc/stadtbus
COPY mappings /etc/mappings
USER stadtbus
WORKDIR /var/lib/stadtbus
EXPOSE 8080 8081
HEALTHCHECK --interval=10s --timeout=3s CMD ["/usr/local/bin/stadtbus", "status", "--interval", "0"]
ENTRYPOINT ["/usr/local/bin/stadtbus"]
CMD ["run", "--config", "/etc/stadtbus/itzehoe.yaml", "--log-format", "json"]
