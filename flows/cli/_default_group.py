"""A command group that runs its default command when no sub-command is named, so
`mlops bench --base-url ...` (the one-run benchmark users know) keeps working beside
`mlops bench sweep` and `mlops bench compare`."""

from __future__ import annotations

from typing import Any

import click
from typer.core import TyperGroup

DEFAULT_COMMAND = "run"


class DefaultGroup(TyperGroup):
    """`GROUP ARGS...` where ARGS does not start with a sub-command's name means `GROUP run ARGS...`;
    `GROUP` alone and `GROUP --help` show the group's help (its commands)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:  # the default first, then as added
        names: list[Any] = list(self.commands)
        return sorted(names, key=lambda n: n != DEFAULT_COMMAND)
