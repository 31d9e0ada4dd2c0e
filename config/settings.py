"""All configuration in one place, read from ILP_* environment variables (or .env) on first use."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.secrets import check_secret, generate_secret, load_or_create

SIGNING_SECRET_FILE = "signing-secret"
WEBHOOK_TOKEN_FILE = "webhook-token"
PREFECT_AUTH_FILE = "prefect-auth"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ILP_", env_file=".env", extra="ignore")

    # Where the engine keeps its state when nothing else is configured.
    data_dir: Path = Path("var")
    # Any SQLAlchemy URL; empty means SQLite at data_dir/ilp.db.
    database_url: str = ""

    # Web app (ack links, webhook, task list) and the local notification sink.
    # Dev mode: API docs on, and a weak ILP_SECRET_KEY / ILP_WEBHOOK_TOKEN is accepted (never an
    # empty one). Not needed for signing: the secrets are generated (see `signing_secret`).
    dev_mode: bool = False
    secret_key: str = ""  # empty: generated into data_dir/secrets/signing-secret (0600)
    web_host: str = "127.0.0.1"
    web_port: int = 8700
    public_base_url: str = ""  # what links in messages point at; default http://web_host:web_port
    sink_port: int = 8701
    prefect_port: int = 4200
    link_ttl_days: int = 30
    webhook_token: str = ""  # POST /enrollments bearer token; empty: data_dir/secrets/webhook-token
    # Prefect server basic auth ("user:password"); empty: data_dir/secrets/prefect-auth.
    prefect_auth_string: str = ""
    webhook_max_bytes: int = 5_000_000  # a bigger POST /enrollments body gets 413, unread
    webhook_max_items: int = 5_000  # more items in one POST gets 413
    # Failed token attempts (bad link, wrong bearer) per client before 429, in this window.
    failed_token_limit: int = 20
    failed_token_window_seconds: float = 60

    # School configuration: calendars and policies (TOML), Apprise targets (YAML).
    schools_dir: Path = Path("deployments/config/schools")
    apprise_config: Path = Path("deployments/config/apprise.yaml")

    # A feed import publishes a plan artifact per student only up to this many (a daily delta
    # feed gets them; a 100k first load gets its feed artifact alone).
    lifecycle_artifacts_max: int = 1000
    # The enrollment trigger coalesces a burst of events: it starts one lifecycle run and
    # ignores further events for this long while that run plans what they announced.
    lifecycle_window_seconds: float = Field(default=10, ge=0, le=300)
    # `deployments.serve` (one machine) starts lifecycle runs itself, in its warm process, on
    # the same events (deployments/lifecycle_listener.py): ~1 s from webhook to plan instead of
    # 4-13 s through an automation and a new process. Off: the deployment's trigger does it.
    lifecycle_listener: bool = True

    # The task list shows this many steps per page (web/tasklist.py; at most 500).
    task_list_page_size: int = 100

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
    # E-mail by default: staff with an e-mail address in the feed (and no notify_url or YAML
    # staff-<id> target) get their digest there. smtp://host:port, smtp+starttls://user:pw@host,
    # smtps://user:pw@host, or an Apprise mailto(s):// URL with {email} (notifications/mail.py).
    smtp_url: str = ""
    mail_from: str = ""  # the From of those e-mails; default the SMTP user or ilp@<smtp host>
    digest_max_items: int = Field(default=20, ge=1)  # items listed in one digest; the rest: counts

    # --- Parent copy of the EL ILP (services/parent_copy.py) ----------------------------------
    # Apprise URL template the PDF is sent through, {email} = the guardian's address, e.g.
    # "mailtos://user:pass@smtp.example.org?to={email}". Empty: the local sink's /guardian/{email}.
    parent_copy_url: str = ""

    @property
    def parent_copy_target(self) -> str:
        """The parent-copy Apprise URL template, with {email} still to fill in."""
        return self.parent_copy_url or f"json://127.0.0.1:{self.sink_port}/guardian/{{email}}"

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'ilp.db').resolve()}"

    @property
    def base_url(self) -> str:
        return self.public_base_url or f"http://{self.web_host}:{self.web_port}"

    # -- secrets: read on first use, generated once per data directory, checked every time ------
    @property
    def signing_secret(self) -> str:
        """The HMAC key of action links. Raises `InsecureSecretError` if weak (outside dev mode)."""
        value = self.secret_key or load_or_create(self.data_dir, SIGNING_SECRET_FILE)
        check_secret(value, name="ILP_SECRET_KEY", dev_mode=self.dev_mode)
        return value

    @property
    def webhook_bearer(self) -> str:
        """The token SIS callers present to POST /enrollments."""
        value = self.webhook_token or load_or_create(self.data_dir, WEBHOOK_TOKEN_FILE)
        check_secret(value, name="ILP_WEBHOOK_TOKEN", dev_mode=self.dev_mode)
        return value

    @property
    def prefect_auth(self) -> str:
        """`user:password` for the Prefect server's basic auth (PREFECT_API_AUTH_STRING)."""
        value = self.prefect_auth_string or load_or_create(
            self.data_dir, PREFECT_AUTH_FILE, make=f"ilp:{generate_secret()}"
        )
        _user, _, password = value.partition(":")
        check_secret(password, name="ILP_PREFECT_AUTH_STRING's password", dev_mode=self.dev_mode)
        return value

    def ensure_secrets(self) -> None:
        """Create (or check) every secret now, e.g. at `ilp migrate` / `ilp up`."""
        _ = self.signing_secret, self.webhook_bearer, self.prefect_auth


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
