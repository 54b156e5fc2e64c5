"""The production profile on one machine (`scripts/stack.sh`): docker-compose.yml's stack as
local processes from real packages: Postgres, Prefect server and workers, MLflow server, S3."""
