# shellcheck shell=bash
# Local Redis and PostgreSQL for BoxOffice, shared by scripts/run and scripts/test.
# Source it (after `set -euo pipefail`); it defines functions and a few BOXOFFICE_* variables
# and starts nothing by itself.
#
# Each environment ("dev", "test", "bench") keeps its state under .data/<env>/ in the repo:
#   .data/<env>/redis/   redis.conf, redis.pid, redis.log, dump.rdb (dev only)
#   .data/<env>/pg/      the PostgreSQL cluster; its unix socket and server.log live in it
# PostgreSQL refuses to run as root, so the cluster belongs to the `postgres` system user.
# If that user cannot reach .data/<env>/ (a clone under /root, whose mode is 0700), or the
# socket path would be too long for a unix socket, the cluster lives in
# /var/lib/boxoffice/<hash of the repo path>/<env>/pg instead and .data/<env>/pg is a
# symlink to it. No permissions outside the repo are changed.

BOXOFFICE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
BOXOFFICE_PACKAGES=(redis-server redis-tools postgresql postgresql-contrib libhiredis-dev libpq-dev libqrencode-dev libcurl4-openssl-dev zbar-tools)
BOXOFFICE_SERVICE_TIMEOUT=${BOXOFFICE_SERVICE_TIMEOUT:-30}  # seconds to wait for a service

# Ports of each environment; the test ones differ so a running dev server is not disturbed.
redis_port() {  # ENV
    case $1 in
    dev) printf '%s' "${BOXOFFICE_DEV_REDIS_PORT:-6390}" ;;
    test) printf '%s' "${BOXOFFICE_TEST_REDIS_PORT:-6391}" ;;
    bench) printf '%s' "${BOXOFFICE_BENCH_REDIS_PORT:-6392}" ;;
    esac
}
pg_port() {  # ENV
    case $1 in
    dev) printf '%s' "${BOXOFFICE_DEV_PG_PORT:-5440}" ;;
    test) printf '%s' "${BOXOFFICE_TEST_PG_PORT:-5441}" ;;
    bench) printf '%s' "${BOXOFFICE_BENCH_PG_PORT:-5442}" ;;
    esac
}

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# die with the last lines of a log file.
die_with_log() {  # MESSAGE LOGFILE
    printf 'error: %s\n' "$1" >&2
    if [[ -s $2 ]]; then
        printf -- '--- last lines of %s ---\n' "$2" >&2
        tail -n 25 "$2" >&2
        printf -- '---\n' >&2
    fi
    exit 1
}

# Poll COMMAND until it succeeds, for at most SECONDS.
wait_until() {  # SECONDS COMMAND...
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

env_dir() { printf '%s/.data/%s' "$BOXOFFICE_ROOT" "$1"; }

# True if something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# True if PID is alive and its command name is NAME.
pid_is() {  # PID NAME
    [[ $1 =~ ^[0-9]+$ ]] && [[ -r /proc/$1/comm ]] && [[ $(</proc/"$1"/comm) == "$2"* ]]
}

# True once PID has exited (a zombie left for a parent to reap counts as exited).
pid_gone() {  # PID
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    stat=${stat##*) }
    [[ ${stat%% *} == Z ]]
}

# Stop the process in PIDFILE if it is NAME: SIGTERM, then SIGKILL after TIMEOUT seconds.
stop_pidfile() {  # PIDFILE NAME TIMEOUT
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 0
    if pid_is "$pid" "$2"; then
        kill -TERM "$pid" 2>/dev/null || true
        if ! wait_until "$3" pid_gone "$pid"; then
            log "$2 (pid $pid) did not stop in $3 s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$1"
}

# ---------------------------------------------------------------------------------------
# Debian packages

# Install the packages given (default: what BoxOffice needs) that are not installed yet.
install_packages() {  # [PACKAGE...]
    local wanted=("$@") missing=() p
    ((${#wanted[@]})) || wanted=("${BOXOFFICE_PACKAGES[@]}")
    for p in "${wanted[@]}"; do
        [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) == installed ]] || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    ((EUID == 0)) || die "missing Debian packages: ${missing[*]}; install them as root: apt-get install ${missing[*]}"
    log "installing ${missing[*]}"
    mkdir -p "$BOXOFFICE_ROOT/.data"
    local aptlog=$BOXOFFICE_ROOT/.data/apt.log
    if [[ -z ${_BOXOFFICE_APT_UPDATED:-} ]]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -q >"$aptlog" 2>&1 ||
            die_with_log "apt-get update failed" "$aptlog"
        _BOXOFFICE_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$aptlog" 2>&1 ||
        die_with_log "apt-get install ${missing[*]} failed" "$aptlog"
}

# A Python that can import MODULE, printed: this one if it can or pip may install PACKAGE
# (default: MODULE) into it, else (Debian's externally managed Python) a virtual environment
# under the git-ignored .data/python-venv with PACKAGE installed.
python_with() {  # MODULE [PACKAGE]
    local module=$1 package=${2:-$1} venv=$BOXOFFICE_ROOT/.data/python-venv
    command -v python3 >/dev/null || install_packages python3
    if python3 -c "import $module" 2>/dev/null; then echo python3; return; fi
    if [[ -x $venv/bin/python ]] && "$venv/bin/python" -c "import $module" 2>/dev/null; then echo "$venv/bin/python"; return; fi
    log "installing $package from PyPI"
    if python3 -m pip install -q "$package" >&2 2>/dev/null && python3 -c "import $module" 2>/dev/null; then echo python3; return; fi
    if [[ ! -x $venv/bin/python ]]; then
        python3 -m venv "$venv" >&2 2>/dev/null || { install_packages python3-venv && rm -rf "$venv" && python3 -m venv "$venv" >&2; }
    fi
    "$venv/bin/python" -m pip install -q "$package" >&2 || die "pip install $package failed"
    echo "$venv/bin/python"
}

# ---------------------------------------------------------------------------------------
# A local SMTP sink (aiosmtpd from PyPI): every message lands in a maildir, to be read.

smtp_sink_dir() { printf '%s/mail' "$(env_dir "$1")"; }

start_smtp_sink() {  # ENV PORT
    local dir python pid
    dir=$(smtp_sink_dir "$1")
    mkdir -p "$dir"
    pid=$(cat "$dir/sink.pid" 2>/dev/null) && pid_is "$pid" python && port_in_use "$2" && return 0
    python=$(python_with aiosmtpd)
    log "starting an SMTP sink ($1) on port $2: messages go to ${dir#"$BOXOFFICE_ROOT/"}/maildir"
    nohup "$python" -m aiosmtpd -n -l "127.0.0.1:$2" -c aiosmtpd.handlers.Mailbox "$dir/maildir" \
        </dev/null >>"$dir/sink.log" 2>&1 &
    echo $! >"$dir/sink.pid"
    wait_until 20 port_in_use "$2" || die_with_log "the SMTP sink did not listen on $2" "$dir/sink.log"
}

stop_smtp_sink() {  # ENV
    stop_pidfile "$(smtp_sink_dir "$1")/sink.pid" python 5
}

# ---------------------------------------------------------------------------------------
# Redis

redis_dir() { printf '%s/redis' "$(env_dir "$1")"; }

# True if the Redis of ENV is running (its pidfile names a live redis-server).
redis_running() {  # ENV
    local pid
    pid=$(cat "$(redis_dir "$1")/redis.pid" 2>/dev/null) && pid_is "$pid" redis-server
}

redis_ping() { [[ $(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null) == PONG ]]; }

# Start the Redis of ENV on PORT (reused when it already runs there).
start_redis() {  # ENV PORT
    local env=$1 port=$2 dir conf
    dir=$(redis_dir "$env"); conf=$dir/redis.conf
    if redis_running "$env"; then
        if redis_ping "$port"; then
            log "redis ($env) already running on port $port"
            return 0
        fi
        log "redis ($env) runs but not on port $port; restarting it"
        stop_redis "$env"
    fi
    port_in_use "$port" && die "port $port is taken by another process, not by this checkout's $env redis (stop it, or set BOXOFFICE_${env^^}_REDIS_PORT)"
    command -v redis-server >/dev/null || die "redis-server is not on PATH (apt-get install redis-server)"
    mkdir -p "$dir"
    {
        printf '# written by scripts/lib/services.sh on every start; edits are lost\n'
        printf 'port %s\nbind 127.0.0.1\nprotected-mode yes\n' "$port"
        printf 'daemonize yes\nsupervised no\n'
        printf 'dir "%s"\npidfile "%s/redis.pid"\nlogfile "%s/redis.log"\n' "$dir" "$dir" "$dir"
        if [[ $env != dev ]]; then
            printf 'save ""\nappendonly no\n'
        else
            printf 'save 3600 1 300 100 60 10000\nappendonly no\ndbfilename dump.rdb\n'
        fi
    } >"$conf"
    log "starting redis ($env) on port $port"
    # 9>&-: don't hand scripts/test's lock to a daemon that outlives it.
    redis-server "$conf" 9>&- || die_with_log "redis-server ($env) failed to start" "$dir/redis.log"
    wait_until "$BOXOFFICE_SERVICE_TIMEOUT" redis_ping "$port" ||
        die_with_log "redis ($env) did not answer PING on port $port within ${BOXOFFICE_SERVICE_TIMEOUT}s" "$dir/redis.log"
}

stop_redis() {  # ENV
    local dir
    dir=$(redis_dir "$1")
    if redis_running "$1"; then
        log "stopping redis ($1)"
        stop_pidfile "$dir/redis.pid" redis-server "$BOXOFFICE_SERVICE_TIMEOUT"
    fi
}

# ---------------------------------------------------------------------------------------
# PostgreSQL

pg_bin() {
    local version
    # shellcheck disable=SC2012  # version folders are plain numbers
    version=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1)
    [[ -n $version && -x /usr/lib/postgresql/$version/bin/pg_ctl ]] ||
        die "PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql)"
    printf '/usr/lib/postgresql/%s/bin' "$version"
}

# Run a command as the postgres user, from a directory it can read.
as_postgres() { (cd / && runuser -u postgres -- "$@"); }

ensure_postgres_user() {
    id -u postgres >/dev/null 2>&1 && return 0
    ((EUID == 0)) || die "there is no 'postgres' user; create one as root"
    log "creating system user postgres"
    useradd --system --user-group --home-dir /var/lib/postgresql --no-create-home \
        --shell /usr/sbin/nologin postgres
}

# The cluster's directory for ENV (see the header for the /var/lib fallback).
pg_data_dir() {  # ENV
    local env=$1 dir link fallback hash
    dir=$(env_dir "$env"); link=$dir/pg
    if [[ -L $link ]]; then
        readlink -f "$link"; return 0
    fi
    if [[ -d $link ]]; then  # an existing cluster stays where it is
        printf '%s' "$link"; return 0
    fi
    mkdir -p "$dir"
    # 107 bytes is the longest unix socket path; the socket is <data dir>/.s.PGSQL.<port>.
    if as_postgres test -x "$dir" && ((${#link} + 16 <= 107)); then
        mkdir -p "$link"
        printf '%s' "$link"; return 0
    fi
    hash=$(printf '%s' "$BOXOFFICE_ROOT" | sha256sum | cut -c1-12)
    fallback=/var/lib/boxoffice/$hash/$env/pg
    mkdir -p "$fallback"
    ln -sfn "$fallback" "$link"
    log "the postgres user cannot reach $dir; the $env cluster lives in $fallback (.data/$env/pg links to it)"
    printf '%s' "$fallback"
}

pg_running() {  # PGDATA
    [[ -f $1/postmaster.pid ]] && as_postgres "$(pg_bin)/pg_ctl" status -D "$1" >/dev/null 2>&1
}

# The port a running cluster listens on (line 4 of postmaster.pid).
pg_running_port() { sed -n 4p "$1/postmaster.pid" 2>/dev/null; }

pg_ready() { "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$1"; }

# Set by start_postgres: 1 if it created a new cluster this time (read by scripts/run).
PG_FRESH=0

# Start the PostgreSQL of ENV on PORT (reused when it already runs there): one role
# `boxoffice` (password `boxoffice`, the cluster's superuser), scram-sha-256 over TCP on
# 127.0.0.1, trust on the unix socket.
# shellcheck disable=SC2034  # PG_FRESH is read by the scripts that source this file
start_postgres() {  # ENV PORT
    local env=$1 port=$2 bin pgdata pwfile initlog
    PG_FRESH=0
    ensure_postgres_user
    bin=$(pg_bin)
    pgdata=$(pg_data_dir "$env")
    if pg_running "$pgdata"; then
        if [[ $(pg_running_port "$pgdata") == "$port" ]] && pg_ready "$port"; then
            log "postgres ($env) already running on port $port"
            return 0
        fi
        log "postgres ($env) runs but not on port $port; restarting it"
        stop_postgres "$env"
    fi
    port_in_use "$port" && die "port $port is taken by another process, not by this checkout's $env postgres (stop it, or set BOXOFFICE_${env^^}_PG_PORT)"
    chown postgres:postgres "$pgdata"
    chmod 0700 "$pgdata"
    if [[ ! -f $pgdata/PG_VERSION ]]; then
        log "creating the $env PostgreSQL cluster in $pgdata"
        initlog=$(env_dir "$env")/pg-initdb.log
        pwfile=$(mktemp)
        printf 'boxoffice\n' >"$pwfile"
        chown postgres "$pwfile"
        if ! as_postgres "$bin/initdb" -D "$pgdata" -U boxoffice --pwfile="$pwfile" \
            --auth-host=scram-sha-256 --auth-local=trust \
            --encoding=UTF8 --locale=C.UTF-8 >"$initlog" 2>&1; then
            rm -f "$pwfile"
            die_with_log "initdb ($env) failed" "$initlog"
        fi
        rm -f "$pwfile"
        printf "\ninclude_if_exists = 'boxoffice.conf'\n" >>"$pgdata/postgresql.conf"
        PG_FRESH=1
    fi
    # Rewritten on every start, so a changed port takes effect.
    {
        printf '# written by scripts/lib/services.sh on every start; edits are lost\n'
        printf "port = %s\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n" \
            "$port" "${pgdata//\'/\'\'}"
        printf 'max_connections = 200\n'
        # Throwaway data: trade durability for speed. BOXOFFICE_PG_EXTRA_CONF adds lines, e.g.
        # shared_preload_libraries = 'pg_stat_statements' to see where a benchmark's time goes.
        if [[ $env != dev ]]; then
            printf 'fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n%s\n' "${BOXOFFICE_PG_EXTRA_CONF:-}"
        fi
    } >"$pgdata/boxoffice.conf"
    chown postgres:postgres "$pgdata/boxoffice.conf"
    log "starting postgres ($env) on port $port"
    # 9>&-: don't hand scripts/test's lock to a daemon that outlives it.
    local out
    if ! out=$(as_postgres "$bin/pg_ctl" start -D "$pgdata" -l "$pgdata/server.log" -s -w \
        -t "$BOXOFFICE_SERVICE_TIMEOUT" 9>&- 2>&1); then
        [[ -z $out ]] || printf '%s\n' "$out" >&2
        die_with_log "postgres ($env) failed to start" "$pgdata/server.log"
    fi
    wait_until "$BOXOFFICE_SERVICE_TIMEOUT" pg_ready "$port" ||
        die_with_log "postgres ($env) did not accept connections on port $port within ${BOXOFFICE_SERVICE_TIMEOUT}s" "$pgdata/server.log"
    pg_psql "$port" postgres -c "select 1 from pg_available_extensions where name = 'btree_gist'" | grep -q 1 ||
        die "postgres ($env) lacks the btree_gist extension (it ships with postgresql-$(basename "$(dirname "$bin")"))"
}

stop_postgres() {  # ENV
    local pgdata
    pgdata=$(env_dir "$1")/pg
    [[ -L $pgdata ]] && pgdata=$(readlink -f "$pgdata")
    if [[ -d $pgdata ]] && pg_running "$pgdata"; then
        log "stopping postgres ($1)"
        as_postgres "$(pg_bin)/pg_ctl" stop -D "$pgdata" -m fast -s -w -t "$BOXOFFICE_SERVICE_TIMEOUT" ||
            die_with_log "postgres ($1) did not stop" "$pgdata/server.log"
    fi
}

# psql as boxoffice over TCP, quiet, unaligned, stopping at the first error.
pg_psql() {  # PORT DATABASE ARGS...
    local port=$1 db=$2; shift 2
    PGPASSWORD=boxoffice PGCONNECT_TIMEOUT=5 "$(pg_bin)/psql" -X -q -A -t -v ON_ERROR_STOP=1 \
        -h 127.0.0.1 -p "$port" -U boxoffice -d "$db" "$@"
}

ensure_database() {  # PORT NAME
    if [[ -z $(pg_psql "$1" postgres -c "select 1 from pg_database where datname = '$2'") ]]; then
        log "creating database $2"
        pg_psql "$1" postgres -c "create database \"$2\""
    fi
}

postgres_url() { printf 'postgres://boxoffice:boxoffice@127.0.0.1:%s/%s' "$1" "$2"; }  # PORT DB
redis_url() { printf 'redis://127.0.0.1:%s/0' "$1"; }  # PORT

# One status line per service of ENV.
services_status() {  # ENV
    local env=$1 pgdata
    if redis_running "$env"; then
        printf '%-5s redis     running  port %s  pid %s  %s\n' "$env" \
            "$(sed -n 's/^port //p' "$(redis_dir "$env")/redis.conf")" \
            "$(cat "$(redis_dir "$env")/redis.pid")" "$(redis_dir "$env")"
    else
        printf '%-5s redis     stopped\n' "$env"
    fi
    pgdata=$(env_dir "$env")/pg
    [[ -L $pgdata ]] && pgdata=$(readlink -f "$pgdata")
    if [[ -d $pgdata ]] && pg_running "$pgdata"; then
        printf '%-5s postgres  running  port %s  pid %s  %s\n' "$env" "$(pg_running_port "$pgdata")" \
            "$(head -n 1 "$pgdata/postmaster.pid")" "$pgdata"
    else
        printf '%-5s postgres  stopped\n' "$env"
    fi
}
