"""vLLM's OpenAI server, managed (we start and stop it) or attached (it already runs).

Managed: vLLM runs in its own session/process group with stdout+stderr in
`<log_dir>/vllm/<name>_<UTC stamp>.log`. Ready means `/health` answers 200 and every
expected name is listed by `/v1/models`. Stopping sends SIGTERM to the whole group, then
SIGKILL to whatever is left (the group and any descendant that left it), so no engine
process outlives the server. An owner_guard process stops vLLM if the process that started
it dies without doing so (SIGKILL, OOM). Every start-up failure (port taken, vLLM missing, crash,
timeout) stops what was started and raises ServingError quoting the log's tail.

Attached: each adapter not yet listed is loaded into the running server with POST
/v1/load_lora_adapter, which vLLM only allows when it was started with
VLLM_ALLOW_RUNTIME_LORA_UPDATING=True. Served names carry the version (`NAME-v4`), so a new
version is always loaded beside the old one, never mistaken for it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from configs.errors import ServingError
from configs.serving import ServingConfig
from logging_lib.sink import open_locked_append
from tasks.processes.groups import guard_process, log_tail, stop_process_tree
from tasks.serving.target import LoraModule, ServeTarget, is_local_folder, max_lora_rank_arg



@dataclass(frozen=True)
class Deployment:
    """What a deployment hands on: small and serialisable."""

    mode: str
    base_url: str
    served_name: str
    base_name: str
    pid: int | None = None
    log_path: str | None = None
    served_names: dict[str, str] = field(default_factory=dict)  # model ref as passed -> its served name

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_command(target: ServeTarget, cfg: ServingConfig, port: int) -> list[str]:
    cmd = [*cfg.command, "--model", target.model_path, "--host", cfg.host, "--port", str(port),
           "--dtype", cfg.dtype or "auto", "--served-model-name", target.base_name]
    if cfg.max_model_len is not None:  # None: the checkpoint's own limit
        cmd += ["--max-model-len", str(cfg.max_model_len)]
    cmd += cfg.parallel_args()
    modules = target.lora_modules
    if modules:
        rank = max_lora_rank_arg(max(m.rank for m in modules), cfg.max_lora_rank_limit)
        cmd += ["--enable-lora", "--max-lora-rank", str(rank), "--max-loras", str(len(modules)),
                "--lora-modules", *(f"{m.served_name}={m.adapter_dir}" for m in modules)]
    return cmd + list(cfg.extra_args)


def check_port_free(host: str, port: int) -> None:
    """Free for a server: nothing listens there. Connections of the previous vLLM on this port
    in TIME_WAIT (up to a minute after it stopped) do not count: vLLM binds with SO_REUSEADDR,
    so the next run on a fixed port (the stack's) must not be refused for them."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise ServingError(f"port {port} on {host} is already in use; stop what listens there or set "
                               "serving.port (0 picks a free one)") from exc


def pick_port(host: str, port: int) -> int:
    if port:
        check_port_free(host, port)
        return port
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def check_vllm_available(command: list[str]) -> None:
    """The program exists, and for `python -m vllm...` the interpreter can find vLLM (no import)."""
    program = command[0]
    path = shutil.which(program) if os.sep not in program else (program if os.access(program, os.X_OK) else None)
    if path is None:
        raise ServingError(f"vLLM is not installed: {program!r} is not an executable on PATH; run "
                           "`scripts/setup.sh --vllm` (CPU build) or set serving.command")
    if len(command) >= 3 and command[1] == "-m" and command[2].startswith("vllm"):
        probe = subprocess.run([path, "-c", "import importlib.util,sys; sys.exit(importlib.util.find_spec('vllm') is None)"],
                               capture_output=True, timeout=60)
        if probe.returncode != 0:
            raise ServingError(f"vLLM is not installed for {path}: it cannot find the 'vllm' package; run "
                               "`scripts/setup.sh --vllm` or point serving.command at an environment that has it")


def vllm_env(target: ServeTarget, cfg: ServingConfig, base_env: Mapping[str, str],
             hf_token: str | None) -> dict[str, str]:
    """vLLM's environment: `base_env` plus serving.env, the hub token (from the settings object;
    it goes into the environment only, never the command line or a log) and HF_HUB_OFFLINE
    where serving.hub_offline says so (None: offline for a local-folder base, so vLLM never waits
    on a hub it does not need; for a hub id, which vLLM downloads itself, whatever the
    environment says; False: never offline)."""
    env = {**base_env, **cfg.env}
    if hf_token:
        env["HF_TOKEN"] = hf_token
    offline = cfg.hub_offline if cfg.hub_offline is not None else is_local_folder(target.model_path)
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    elif cfg.hub_offline is False:
        env.pop("HF_HUB_OFFLINE", None)
    return env


def start_managed(target: ServeTarget, cfg: ServingConfig, log_dir: Path, *,
                  env: Mapping[str, str] | None = None, hf_token: str | None = None) -> Deployment:
    """Start vLLM and wait until it serves every expected name; on failure nothing is left running.
    vLLM gets `env` (default: this process's environment, as any child would), see vllm_env."""
    check_vllm_available(cfg.command)
    port = pick_port(cfg.host, cfg.port)
    cmd = build_command(target, cfg, port)
    vllm_dir = Path(log_dir) / "vllm"
    vllm_dir.mkdir(parents=True, exist_ok=True)
    log_path = vllm_dir / f"{target.served_name}_{time.strftime('%Y%m%d_%H%M%S', time.gmtime())}_{port}.log"
    full_env = vllm_env(target, cfg, env if env is not None else os.environ, hf_token)
    # A shared flock that vLLM inherits with the fd: retention keeps this file while vLLM writes it.
    with open_locked_append(log_path) as log:
        log.write(("$ " + " ".join(cmd) + "\n").encode())
        log.flush()
        try:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=full_env, start_new_session=True)
        except OSError as exc:
            raise ServingError(f"could not start vLLM ({cmd[0]}): {exc}") from exc
    base_url = f"http://{cfg.host}:{port}"
    names = [target.base_name] + [m.served_name for m in target.lora_modules]
    try:
        guard_process(proc.pid, cfg.stop_timeout_s, log_path)
        wait_ready(base_url, names, proc, log_path, cfg)
    except BaseException:
        stop_process_tree(proc.pid, cfg.stop_timeout_s)
        raise
    return Deployment("managed", base_url, target.served_name, target.base_name, proc.pid, str(log_path),
                      dict(target.refs))


def wait_ready(base_url: str, names: list[str], proc: subprocess.Popen[bytes], log_path: Path,
               cfg: ServingConfig) -> None:
    deadline = time.monotonic() + cfg.startup_timeout_s
    healthy = False
    with httpx.Client(base_url=base_url, timeout=min(cfg.request_timeout_s, 5.0), trust_env=False) as client:
        while True:
            code = proc.poll()
            if code is not None:
                raise ServingError(f"vLLM exited with code {code} during start-up; log {log_path} ends with:\n"
                                   f"{log_tail(log_path, cfg.log_tail_lines)}")
            try:
                if not healthy:
                    healthy = client.get("/health").status_code == 200
                if healthy:
                    served = {m.get("id") for m in client.get("/v1/models").json().get("data", [])}
                    if all(n in served for n in names):
                        return
            except (httpx.HTTPError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise ServingError(f"vLLM was not ready (health + models {names}) within "
                                   f"serving.startup_timeout_s={cfg.startup_timeout_s:g}s; log {log_path} ends with:\n"
                                   f"{log_tail(log_path, cfg.log_tail_lines)}")
            time.sleep(cfg.poll_interval_s)


def attach(target: ServeTarget, cfg: ServingConfig, client: httpx.Client | None = None) -> Deployment:
    """Use the vLLM server at cfg.base_url: it must already serve the registered base model
    (a hub id or folder, as `/v1/models` lists it); the adapter is loaded there if missing."""
    base_url = (cfg.base_url or "").rstrip("/")
    own = client is None
    client = client or httpx.Client(base_url=base_url, timeout=cfg.request_timeout_s, trust_env=False)
    try:
        try:
            client.get("/health").raise_for_status()
            models = _models(client)
        except httpx.HTTPError as exc:
            raise ServingError(f"no healthy vLLM server at {base_url} (serving.base_url): {exc!r}") from exc
        base_name = _served_base(models, target)
        if base_name is None:
            listing = sorted(f"{m.get('id')} ({m.get('root')})" if m.get("root") not in (None, m.get("id"))
                             else str(m.get("id")) for m in models if not m.get("parent"))
            raise ServingError(f"the server at {base_url} serves {listing}, not {target.model_path!r}, the base model "
                               f"of {target.served_name!r}; start it with `vllm serve {target.model_path}` or use "
                               "serving.mode managed")
        if not target.adapter_dir and target.served_name not in {m.get("id") for m in models}:
            raise ServingError(f"the server at {base_url} does not serve {target.served_name!r}; start it with "
                               "that model or use managed mode")
        _load_missing(client, base_url, target, {str(m.get("id")) for m in models}, cfg)
    finally:
        if own:
            client.close()
    return Deployment("attached", base_url, target.served_name, base_name, served_names=dict(target.refs))


def _load_missing(client: httpx.Client, base_url: str, target: ServeTarget, listed: set[str],
                  cfg: ServingConfig) -> None:
    """Load every adapter of `target` the server does not list yet (by its versioned name)."""
    missing = [m for m in target.lora_modules if m.served_name not in listed]
    for module in missing:
        max_lora_rank_arg(module.rank, cfg.max_lora_rank_limit)
        _load_adapter(client, base_url, module)
    if missing:
        now = {m.get("id") for m in _models(client)}
        for module in missing:
            if module.served_name not in now:
                raise ServingError(f"vLLM at {base_url} accepted adapter {module.served_name!r} but does not list it")


def _models(client: httpx.Client) -> list[dict[str, Any]]:
    resp = client.get("/v1/models")
    resp.raise_for_status()
    return [m for m in resp.json().get("data", []) if isinstance(m, dict)]


def _served_base(models: list[dict[str, Any]], target: ServeTarget) -> str | None:
    """The id under which the server serves the target's base: vLLM lists a base with `root` =
    what it was started with (hub id or folder) and its served name as `id`; adapters have a parent."""
    wanted = {target.model_path.rstrip("/"), target.base_name}
    for m in models:
        if m.get("parent"):
            continue
        if str(m.get("id")) in wanted or str(m.get("root") or "").rstrip("/") in wanted:
            return str(m.get("id"))
    return None


def _load_adapter(client: httpx.Client, base_url: str, target: LoraModule) -> None:
    try:
        resp = client.post("/v1/load_lora_adapter", json={"lora_name": target.served_name,
                                                          "lora_path": target.adapter_dir})
    except httpx.HTTPError as exc:
        raise ServingError(f"loading adapter {target.served_name!r} into {base_url} failed: {exc!r}") from exc
    if resp.status_code in (404, 405):
        raise ServingError(f"vLLM at {base_url} has no /v1/load_lora_adapter: start it with "
                           "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True and --enable-lora")
    if resp.status_code != 200:
        raise ServingError(f"vLLM at {base_url} refused adapter {target.served_name!r} from {target.adapter_dir} "
                           f"(HTTP {resp.status_code}): {resp.text[:500]}; check --max-lora-rank and the path")


def deploy(target: ServeTarget, cfg: ServingConfig, log_dir: Path, hf_token: str | None = None) -> Deployment:
    if cfg.mode == "attached":
        return attach(target, cfg)
    return start_managed(target, cfg, log_dir, hf_token=hf_token)
