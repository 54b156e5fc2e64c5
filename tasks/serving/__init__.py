"""Deploying a registered model to vLLM (managed or attached). See docs/serving.md."""

from tasks.serving.target import ServeTarget, max_lora_rank_arg, plan_target, read_adapter_rank, resolve_target
from tasks.serving.vllm import Deployment, attach, build_command, deploy, start_managed, stop_process_tree

__all__ = ["Deployment", "ServeTarget", "attach", "build_command", "deploy", "max_lora_rank_arg", "plan_target",
           "read_adapter_rank", "resolve_target", "start_managed", "stop_process_tree"]
