#!/bin/sh
# Runs once, when the Postgres volume is first initialised: POSTGRES_DB (prefect) already exists;
# add the MLflow backend store's database, owned by the same user.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -c "CREATE DATABASE mlflow OWNER \"$POSTGRES_USER\";"
