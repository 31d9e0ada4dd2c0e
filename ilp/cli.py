"""The `ilp` command."""


def main() -> None:
    raise SystemExit("ilp: no commands yet")
