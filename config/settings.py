"""All configuration in one place, read from ILP_* environment variables (or .env) on first use."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "dev-insecure-secret-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ILP_", env_file=".env", extra="ignore")

    # Where the engine keeps its state when nothing else is configured.
    data_dir: Path = Path("var")
    # Any SQLAlchemy URL; empty means SQLite at data_dir/ilp.db.
    database_url: str = ""

    # Web app (ack links, webhook, task list) and the local notification sink.
    dev_mode: bool = True
    secret_key: str = DEFAULT_SECRET
    web_host: str = "127.0.0.1"
    web_port: int = 8700
    public_base_url: str = ""  # what links in messages point at; default http://web_host:web_port
    sink_port: int = 8701
    prefect_port: int = 4200
    link_ttl_days: int = 30
    webhook_token: str = ""  # POST /enrollments bearer token; required outside dev mode

    # School configuration: calendars and policies (TOML), Apprise targets (YAML).
    schools_dir: Path = Path("deployments/config/schools")
    apprise_config: Path = Path("deployments/config/apprise.yaml")

    # A feed import publishes a plan artifact per student only up to this many (a daily delta
    # feed gets them; a 100k first load gets its feed artifact alone).
    lifecycle_artifacts_max: int = 1000

    # --- Escalation sweep (services/sweep.py, flows/escalation.py, `ilp sweep`) ---------------
    sweep_interval_minutes: float = 15  # the served deployment's schedule
    sweep_batch_size: int = 50_000  # due steps per prepare transaction (one digest each)
    sweep_lease_minutes: float = 10  # a claimed step is invisible to other sweeps this long
    delivery_attempts: int = 3  # Apprise tries per target before the fallback target
    delivery_backoff_seconds: float = 1.0  # wait before the 2nd try; then x factor
    delivery_backoff_factor: float = 2.0
    delivery_task_retries: int = 1  # Prefect retries of a send task that failed outright
    # Staff with no notify_url and no Apprise YAML tag get this target ({sink_port}, {staff_id}).
    default_notify_url: str = "json://127.0.0.1:{sink_port}/staff/{staff_id}"

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'ilp.db').resolve()}"

    @property
    def base_url(self) -> str:
        return self.public_base_url or f"http://{self.web_host}:{self.web_port}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
