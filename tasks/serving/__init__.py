"""Deploying a registered model to vLLM (managed or attached). See docs/serving.md."""

from tasks.serving.target import (LoraModule, ServeTarget, max_lora_rank_arg, plan_target, read_adapter_rank,
                                  resolve_target, resolve_targets, versioned_name)
from tasks.serving.vllm import Deployment, attach, build_command, deploy, start_managed, stop_process_tree

__all__ = ["Deployment", "LoraModule", "ServeTarget", "attach", "build_command", "deploy", "max_lora_rank_arg", "plan_target",
           "read_adapter_rank", "resolve_target", "resolve_targets", "start_managed", "stop_process_tree",
           "versioned_name"]
