"""The web tests' small district (tests/web/conftest.py), reused for the ILP documents."""

from tests.web.conftest import (  # noqa: F401  (fixtures)
    app,
    client,
    clock,
    district_template,
    events,
    live,
    world,
)
