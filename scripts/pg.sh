#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on a free loopback port, from Debian's package. Source this file, then
# `pg_up` (exports KEYWARD_TEST_PG_URL, a superuser URL tests create their databases with) and `pg_down`.

pg_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# initdb refuses to run as root, so as root the cluster belongs to the `postgres` system user.
pg_as() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_up() {
  local bin
  bin=$(pg_bin)
  if [ -z "$bin" ]; then
    echo "PostgreSQL is not installed: apt-get install postgresql (the CI script does it)" >&2
    return 1
  fi
  PG_DIR=$(mktemp -d /tmp/keyward-pg.XXXXXX)
  chmod 755 "$PG_DIR"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$PG_DIR"
  PG_PORT=$(free_port)
  pg_as "$bin/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log"
  export PG_DIR PG_PORT
  pg_start
  export KEYWARD_TEST_PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
  echo "throwaway PostgreSQL on 127.0.0.1:$PG_PORT" >&2
}

# Starts the cluster in $PG_DIR on $PG_PORT (again, after `pg_ctl stop`: the fault tests do).
pg_start() {
  # Durability settings off: the cluster lives for one test run. PG_DURABLE=1 keeps commits that were
  # answered across a crash of the server process (the fault tests crash it on purpose); fsync stays off,
  # which only matters when the machine itself goes down.
  local commit="-c synchronous_commit=off"
  [ -n "${PG_DURABLE:-}" ] && commit=""
  # PG_SETTINGS: more `-c name=value` options (the benches size shared_buffers as a production server would).
  pg_as "$(pg_bin)/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=off $commit -c full_page_writes=off -c max_connections=300 ${PG_SETTINGS:-}" \
    start >/dev/null
}

# Stops it at once, as a crash or `systemctl stop` with clients connected would.
pg_stop() {
  pg_as "$(pg_bin)/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
}

pg_down() {
  [ -n "${PG_DIR:-}" ] || return 0
  pg_stop
  rm -rf "$PG_DIR"
  unset PG_DIR
}
