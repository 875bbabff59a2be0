# shellcheck shell=bash
# A local Redis Cluster of 6 nodes (3 primaries, 3 replicas) on loopback, from Debian's
# redis-server. Source after services.sh. State under .data/<env>/redis-cluster/<port>/.
#   start_redis_cluster ENV BASE_PORT [keep]
#                                       nodes on BASE_PORT … BASE_PORT+5; a fresh cluster each
#                                       time (the data is throwaway), unless "keep" and it runs
#   restart_redis_cluster_nodes ENV BASE_PORT   starts nodes that are down (they rejoin)
#   stop_redis_cluster ENV
#   redis_cluster_url BASE_PORT         redis-cluster://127.0.0.1:BASE,…+1,…+2
# The node timeout is short (BOXOFFICE_CLUSTER_NODE_TIMEOUT ms, default 1000), so that a
# replica takes over from a failed primary within a few seconds.

REDIS_CLUSTER_NODES=6

redis_cluster_port() {  # ENV: the first node's port
    case $1 in
    dev) printf '%s' "${BOXOFFICE_DEV_REDIS_CLUSTER_PORT:-7001}" ;;
    test) printf '%s' "${BOXOFFICE_TEST_REDIS_CLUSTER_PORT:-7101}" ;;
    bench) printf '%s' "${BOXOFFICE_BENCH_REDIS_CLUSTER_PORT:-7201}" ;;
    esac
}

redis_cluster_dir() { printf '%s/redis-cluster' "$(env_dir "$1")"; }

redis_cluster_url() {  # BASE_PORT
    printf 'redis-cluster://127.0.0.1:%s,127.0.0.1:%s,127.0.0.1:%s' "$1" "$(($1 + 1))" "$(($1 + 2))"
}

redis_cluster_ok() {  # PORT
    redis-cli -h 127.0.0.1 -p "$1" cluster info 2>/dev/null | grep -q '^cluster_state:ok'
}

start_redis_cluster() {  # ENV BASE_PORT [keep]
    local env=$1 base=$2 dir port i nodes=()
    dir=$(redis_cluster_dir "$env")
    if [[ ${3:-} == keep ]] && redis_cluster_ok "$base"; then
        log "the $env Redis Cluster already runs on ports $base-$((base + REDIS_CLUSTER_NODES - 1))"
        restart_redis_cluster_nodes "$env" "$base"
        return 0
    fi
    stop_redis_cluster "$env"
    rm -rf "$dir"
    for ((i = 0; i < REDIS_CLUSTER_NODES; i++)); do
        port=$((base + i))
        port_in_use "$port" && die "port $port is taken (set another base port for the $env Redis Cluster)"
        mkdir -p "$dir/$port"
        {
            printf '# written by scripts/lib/redis-cluster.sh; edits are lost\n'
            printf 'port %s\nbind 127.0.0.1\nprotected-mode yes\ndaemonize yes\n' "$port"
            printf 'dir "%s"\npidfile "%s/redis.pid"\nlogfile "%s/redis.log"\n' "$dir/$port" "$dir/$port" "$dir/$port"
            printf 'save ""\nappendonly no\n'
            printf 'cluster-enabled yes\ncluster-config-file nodes.conf\n'
            printf 'cluster-node-timeout %s\n' "${BOXOFFICE_CLUSTER_NODE_TIMEOUT:-1000}"
            # A replica may take over however long it was cut off: a test kills primaries on purpose.
            printf 'cluster-replica-validity-factor 0\n'
            # Slots whose shard is down make only those keys fail, not the whole cluster.
            printf 'cluster-require-full-coverage no\n'
        } >"$dir/$port/redis.conf"
        redis-server "$dir/$port/redis.conf" 9>&- || die_with_log "redis-server (cluster node $port) failed to start" "$dir/$port/redis.log"
        nodes+=("127.0.0.1:$port")
    done
    for ((i = 0; i < REDIS_CLUSTER_NODES; i++)); do
        wait_until "$BOXOFFICE_SERVICE_TIMEOUT" redis_ping "$((base + i))" ||
            die_with_log "cluster node $((base + i)) did not answer PING" "$dir/$((base + i))/redis.log"
    done
    log "forming the $env Redis Cluster on ports $base-$((base + REDIS_CLUSTER_NODES - 1))"
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1 ||
        die_with_log "redis-cli --cluster create failed" "$dir/create.log"
    for ((i = 0; i < REDIS_CLUSTER_NODES; i++)); do
        wait_until "$BOXOFFICE_SERVICE_TIMEOUT" redis_cluster_ok "$((base + i))" ||
            die_with_log "the $env Redis Cluster did not reach cluster_state:ok" "$dir/$((base + i))/redis.log"
    done
}

stop_redis_cluster() {  # ENV
    local dir pidfile
    dir=$(redis_cluster_dir "$1")
    [[ -d $dir ]] || return 0
    for pidfile in "$dir"/*/redis.pid; do
        [[ -e $pidfile ]] || continue
        # A node a test restarted may block SIGTERM (inherited signal mask): ask it first.
        redis-cli -h 127.0.0.1 -p "$(basename "$(dirname "$pidfile")")" shutdown nosave >/dev/null 2>&1 || true
        stop_pidfile "$pidfile" redis-server "$BOXOFFICE_SERVICE_TIMEOUT"
    done
    return 0
}

restart_redis_cluster_nodes() {  # ENV BASE_PORT
    local dir port i
    dir=$(redis_cluster_dir "$1")
    for ((i = 0; i < REDIS_CLUSTER_NODES; i++)); do
        port=$(($2 + i))
        redis_ping "$port" && continue
        [[ -f $dir/$port/redis.conf ]] || continue
        log "starting cluster node $port again (it rejoins the cluster)"
        redis-server "$dir/$port/redis.conf" 9>&- || die_with_log "cluster node $port failed to start" "$dir/$port/redis.log"
    done
}

# The port of a node that is a primary now.
redis_cluster_primary() {  # BASE_PORT
    local port i
    for ((i = 0; i < REDIS_CLUSTER_NODES; i++)); do
        port=$(($1 + i))
        [[ $(redis-cli -h 127.0.0.1 -p "$port" role 2>/dev/null | head -1) == master ]] && { printf '%s' "$port"; return 0; }
    done
    return 1
}
