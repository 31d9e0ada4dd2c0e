"""The `ilp` subcommands beyond `plan`: each entry is (handler, argument setup)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

Handler = Callable[[argparse.Namespace], int]

COMMANDS: dict[str, tuple[Handler, Callable[[argparse.ArgumentParser], None]]] = {}
