"""Argument checks shared by the sub-commands: a bad value is one line on stderr and exit code 2."""

from __future__ import annotations

import typer


def usage_error(message: str) -> typer.Exit:
    """Print `error: MESSAGE` and return the Exit(2) to raise (2: the command line is wrong)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def base_url(value: str, option: str) -> str:
    from configs.urls import check_base_url

    try:
        return check_base_url(value, option)
    except ValueError as exc:
        raise usage_error(str(exc)) from None


def output_path(path, option: str):
    """A file we are going to write: its nearest existing ancestor must be a writable folder."""
    import os
    from pathlib import Path

    if path is None:
        return None
    path = Path(path)
    if path.is_dir():
        raise usage_error(f"{option} {path} is a folder; give a file name inside it")
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise usage_error(f"{option} {path}: {parent} is a file, not a folder; choose another path")
    if not os.access(parent, os.W_OK):
        raise usage_error(f"{option} {path}: cannot create files in {parent}; choose a writable path")
    return path


def folder_path(path, option: str):
    """A folder we may create: it must not be a file, nor sit under one."""
    from pathlib import Path

    if path is None:
        return None
    path = Path(path)
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise usage_error(f"{option} {path}: {probe} is a file, not a folder")
    return path
