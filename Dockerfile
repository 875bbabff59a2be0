# syntax=docker/dockerfile:1
# BoxOffice in a container: built with Swift, run on a slim Debian with the Swift runtime
# linked in statically. compose.yaml runs it beside PostgreSQL and Redis.

ARG SWIFT_VERSION=6.1

# ---- build -------------------------------------------------------------------------------
FROM swift:${SWIFT_VERSION}-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libhiredis-dev libpq-dev libqrencode-dev libcurl4-openssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# Dependencies in a layer of their own: a change of the sources does not fetch them again.
COPY Package.swift ./
RUN swift package resolve

COPY . .
RUN swift build -c release --product boxoffice --static-swift-stdlib \
 && mkdir -p /staging/migrations /staging/lua /staging/public \
 && cp "$(swift build -c release --show-bin-path)/boxoffice" /staging/ \
 && cp /usr/libexec/swift/linux/swift-backtrace-static /staging/ \
 && cp -R migrations/. /staging/migrations/ \
 && cp -R lua/. /staging/lua/ \
 && cp -R public/. /staging/public/ \
 && cp openapi.yaml /staging/

# ---- run ---------------------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libhiredis0.14 libpq5 libqrencode4 libcurl4 ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --user-group --home-dir /app --shell /usr/sbin/nologin boxoffice \
 && mkdir -p /app/data/posters && chown -R boxoffice:boxoffice /app/data

WORKDIR /app
COPY --from=build /staging/boxoffice /staging/swift-backtrace-static /usr/local/bin/
COPY --from=build /staging/migrations ./migrations
COPY --from=build /staging/lua ./lua
COPY --from=build /staging/public ./public
COPY --from=build /staging/openapi.yaml ./openapi.yaml
COPY scripts/docker-entrypoint /usr/local/bin/docker-entrypoint

ENV BOXOFFICE_HOST=0.0.0.0 \
    BOXOFFICE_PORT=8080 \
    BOXOFFICE_MIGRATIONS_DIR=/app/migrations \
    BOXOFFICE_LUA_DIR=/app/lua \
    BOXOFFICE_PUBLIC_DIR=/app/public \
    BOXOFFICE_OPENAPI_PATH=/app/openapi.yaml \
    BOXOFFICE_POSTER_DIR=/app/data/posters \
    BOXOFFICE_LOG_LEVEL=info \
    SWIFT_BACKTRACE=enable=yes,sanitize=yes,threads=all,images=all,interactive=no,swift-backtrace=/usr/local/bin/swift-backtrace-static

USER boxoffice:boxoffice
EXPOSE 8080
ENTRYPOINT ["docker-entrypoint"]
CMD ["serve"]
