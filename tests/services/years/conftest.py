"""School-year tests share the feed tests' engine fixtures (temp SQLite, the repo's configs)."""

from tests.services.feeds.conftest import ilp_env, school_files

__all__ = ["ilp_env", "school_files"]
