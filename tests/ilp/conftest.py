"""The web tests' small district (tests/web/conftest.py) for commands that print links to it."""

from tests.web.conftest import district_template, world  # noqa: F401
