"""The `ilp` subcommands beyond `plan`, gathered from one module per area.

Each module named in MODULES defines `COMMANDS = {name: (handler, configure)}`: `configure`
adds the subcommand's arguments, `handler(args) -> exit code` runs it and imports what it needs.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

Handler = Callable[[argparse.Namespace], int]
Configure = Callable[[argparse.ArgumentParser], None]

MODULES = (
    "ilp.cmd_feeds",
    "ilp.cmd_sweep",
    "ilp.cmd_web",
    "ilp.cmd_stack",
    "ilp.cmd_report",
    "ilp.cmd_export",
    "ilp.cmd_years",
    "ilp.cmd_student",
)


def _gather() -> dict[str, tuple[Handler, Configure]]:
    commands: dict[str, tuple[Handler, Configure]] = {}
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        commands.update(module.COMMANDS)
    return commands


COMMANDS = _gather()
