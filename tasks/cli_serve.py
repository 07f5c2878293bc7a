"""Placeholder: subcommands are added here by the issue that owns them."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the ``seongsu`` app."""
