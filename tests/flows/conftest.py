from tests.prefect_server import prefect_server  # noqa: F401 - session fixture
