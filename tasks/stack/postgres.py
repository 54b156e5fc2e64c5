"""A private PostgreSQL cluster from Debian's packages: the stack's `postgres` service.

The server refuses to run as root, so as root every server command runs as the `postgres`
user (`runuser`), and the data folder and log file are handed to that user. The cluster
listens on 127.0.0.1 only, with its socket inside the data folder (no /var/run needed);
passwords are checked (scram-sha-256) even on loopback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from configs.errors import StackError
from configs.stack import StackSettings
from tasks.processes.groups import log_tail

DATABASES = ("prefect", "mlflow")  # compose: POSTGRES_DB=prefect + postgres/create-databases.sh
INSTALL_HINT = "install it with `bash scripts/setup.sh --stack` (as root: apt-get install postgresql)"


def bin_dir() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin with pg_ctl (Debian's layout), else PATH's."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]) if
                   p.parts[-3].isdigit() else 0)
    if found:
        return found[-1].parent
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).parent
    raise StackError(f"PostgreSQL's server programs (pg_ctl, initdb) are not installed: {INSTALL_HINT}")


def data_dir(settings: StackSettings) -> Path:
    return settings.mlops_stack_state_dir / "postgres"


def log_path(settings: StackSettings) -> Path:
    return settings.mlops_log_dir / "postgres" / "postgres.log"


def _as_server_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _give_to_server_user(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


def _run(argv: list[str], what: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(_as_server_user(argv), capture_output=True, text=True, timeout=timeout_s)
    if proc.returncode != 0:
        raise StackError(f"postgres: {what} failed (exit {proc.returncode}): {(proc.stderr or proc.stdout).strip()[-1500:]}")
    return proc


def initialise(settings: StackSettings) -> bool:
    """initdb once (False when the cluster exists): superuser POSTGRES_USER with its password."""
    data = data_dir(settings)
    if (data / "PG_VERSION").exists():
        return False
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError as exc:
            raise StackError(f"there is no `postgres` user to run the server as: {INSTALL_HINT}") from exc
    data.mkdir(parents=True, exist_ok=True)
    data.chmod(0o700)
    _give_to_server_user(data)
    probe = subprocess.run(_as_server_user(["test", "-w", str(data)]), capture_output=True)
    if probe.returncode != 0:
        raise StackError(f"the postgres user cannot write {data} (a parent folder is closed to it); set "
                         "MLOPS_STACK_STATE_DIR to a folder it can reach, e.g. /var/tmp/mlops-stack")
    with tempfile.NamedTemporaryFile("w", dir=data.parent, prefix=".pg-pw-", delete=False) as fh:
        fh.write(settings.postgres_password.get_secret_value() + "\n")
    pw = Path(fh.name)
    try:
        _give_to_server_user(pw)
        _run([str(bin_dir() / "initdb"), "-D", str(data), "-U", settings.postgres_user, f"--pwfile={pw}",
              "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-instructions"], "initdb")
    finally:
        pw.unlink(missing_ok=True)
    return True


def is_running(settings: StackSettings) -> bool:
    data = data_dir(settings)
    if not (data / "PG_VERSION").exists():
        return False
    proc = subprocess.run(_as_server_user([str(bin_dir() / "pg_ctl"), "-D", str(data), "status"]),
                          capture_output=True, text=True)
    return proc.returncode == 0


def start(settings: StackSettings) -> None:
    """pg_ctl start, waiting until it accepts connections."""
    log = log_path(settings)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.touch()
    _give_to_server_user(log)
    data = data_dir(settings)
    options = f"-p {settings.mlops_stack_postgres_port} -k {data} -c listen_addresses=127.0.0.1"
    try:
        _run([str(bin_dir() / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"],
             "start")
    except StackError as exc:
        raise StackError(f"{exc}\nend of {log}:\n{log_tail(log, 20)}") from exc


def stop(settings: StackSettings, mode: str = "fast") -> bool:
    if not is_running(settings):
        return False
    _run([str(bin_dir() / "pg_ctl"), "-D", str(data_dir(settings)), "-m", mode, "-w", "-t", "60", "stop"], "stop")
    return True


def restart(settings: StackSettings) -> None:
    """What an operator (or a crash and its supervisor) does to a running cluster: every
    connection drops; clients must reconnect."""
    stop(settings, mode="fast")
    start(settings)


def ensure_databases(settings: StackSettings) -> list[str]:
    """Create the `prefect` and `mlflow` databases when missing; returns those created."""
    import psycopg2

    created = []
    conn = psycopg2.connect(host="127.0.0.1", port=settings.mlops_stack_postgres_port, dbname="postgres",
                            user=settings.postgres_user, password=settings.postgres_password.get_secret_value(),
                            connect_timeout=10)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            for name in DATABASES:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{name}" OWNER "{settings.postgres_user}"')
                    created.append(name)
    finally:
        conn.close()
    return created

