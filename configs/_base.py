"""The one base class every config section derives from: unknown keys and wrong types are
rejected, and a validated config is frozen so nothing downstream can change it by accident."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
