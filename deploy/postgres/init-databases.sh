#!/bin/sh
# Run once by the postgres image on an empty data directory: one database and owner for Keyward, one for Keycloak.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v keyward_pw="$KEYWARD_DB_PASSWORD" -v keycloak_pw="$KEYCLOAK_DB_PASSWORD" <<'SQL'
CREATE ROLE keyward LOGIN PASSWORD :'keyward_pw';
CREATE DATABASE keyward OWNER keyward;
CREATE ROLE keycloak LOGIN PASSWORD :'keycloak_pw';
CREATE DATABASE keycloak OWNER keycloak;
SQL
