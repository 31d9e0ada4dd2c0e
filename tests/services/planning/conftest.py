from tests.services.feeds.conftest import ilp_env  # noqa: F401 - fixture
