# shellcheck shell=bash
# A release-built server over the bench Redis and PostgreSQL (a fresh database), for the
# benchmark scripts. Source after services.sh; call start_bench_server, then use $BENCH_URL
# and $BENCH_BIN. Everything stops when the script exits.

BENCH=$(env_dir bench)
bench_scratch=(${BOXOFFICE_BENCH_SCRATCH:+--scratch-path "$BOXOFFICE_BENCH_SCRATCH"})

start_bench_server() {  # PRODUCT...  (built besides boxoffice)
    install_packages "${BOXOFFICE_PACKAGES[@]}" wrk
    start_redis bench "$(redis_port bench)"
    start_postgres bench "$(pg_port bench)"
    bench_database=bench_$(date -u +%Y%m%d%H%M%S)_$$
    ensure_database "$(pg_port bench)" "$bench_database"
    local product
    for product in boxoffice "$@"; do
        log "swift build -c release --product $product"
        swift build -c release "${bench_scratch[@]}" --product "$product" >/dev/null
    done
    BENCH_BIN=$(swift build -c release "${bench_scratch[@]}" --show-bin-path)

    local port=18180
    while port_in_use "$port"; do port=$((port + 1)); done
    export BOXOFFICE_DATABASE_URL=$(postgres_url "$(pg_port bench)" "$bench_database")
    export BOXOFFICE_REDIS_URL=$(redis_url "$(redis_port bench)")
    export BOXOFFICE_HOST=127.0.0.1 BOXOFFICE_PORT=$port
    export BOXOFFICE_JWT_SECRET=bench-secret-bench-secret-bench-secret-0123
    export BOXOFFICE_PAYMENT_SECRET=bench-payment-secret-bench-payment-secret
    export BOXOFFICE_MIGRATIONS_DIR=$BOXOFFICE_ROOT/migrations BOXOFFICE_LUA_DIR=$BOXOFFICE_ROOT/lua
    export BOXOFFICE_PUBLIC_DIR=$BOXOFFICE_ROOT/public BOXOFFICE_OPENAPI_PATH=$BOXOFFICE_ROOT/openapi.yaml
    export BOXOFFICE_LOG_LEVEL=warning
    export BOXOFFICE_DATABASE_POOL_SIZE=${BOXOFFICE_DATABASE_POOL_SIZE:-16}
    BENCH_URL=http://127.0.0.1:$port
    trap stop_bench_server EXIT

    "$BENCH_BIN/boxoffice" migrate >"$BENCH/server.log" 2>&1
    "$BENCH_BIN/boxoffice" serve >>"$BENCH/server.log" 2>&1 &
    bench_server_pid=$!
    wait_until 30 curl -sf "$BENCH_URL/ready" -o /dev/null || die_with_log "the server did not become ready" "$BENCH/server.log"
}

stop_bench_server() {
    local rc=$?
    [[ -n ${bench_server_pid:-} ]] && kill "$bench_server_pid" 2>/dev/null && wait "$bench_server_pid" 2>/dev/null
    pg_psql "$(pg_port bench)" postgres -c "drop database if exists $bench_database with (force)" >/dev/null 2>&1 || true
    stop_redis bench
    stop_postgres bench
    exit "$rc"
}
