"""The `gpu_sampling` config section: how often and how long the scheduled sampler runs.

    gpu_sampling:
      sample_interval_s: 10   # one GPU + system sample every 10 s
      window_s: 300           # for 5 minutes per flow run
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class GPUSamplingConfig(BaseModel):
    """GPU and host metrics sampled into `<log_dir>/system/` by the `gpu-sampling` flow."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sample_interval_s: float = Field(10.0, gt=0, description="Seconds between two samples.")
    window_s: float = Field(300.0, gt=0, le=86_400, description="How long one flow run samples, in seconds.")
    monitor_name: str = Field("gpu_sampling", min_length=1,
                              description="Logger name: files are system/<monitor_name>_<timestamp>.log.")

    @model_validator(mode="after")
    def _window_holds_a_sample(self) -> GPUSamplingConfig:
        if self.sample_interval_s > self.window_s:
            raise ValueError(f"sample_interval_s ({self.sample_interval_s}) is longer than window_s "
                             f"({self.window_s}): make the window at least one interval long")
        return self
