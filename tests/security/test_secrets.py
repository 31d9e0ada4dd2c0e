"""Issue 15, point 1: no shared secret. Each data dir generates its own, private, strong ones."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import config.settings as settings_module
from config.secrets import (
    InsecureSecretError,
    estimated_entropy_bits,
    load_or_create,
    secret_path,
    secret_weakness,
)
from config.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def fresh(tmp_path: Path, **values: object) -> Settings:
    return Settings(data_dir=tmp_path, _env_file=None, **values)  # type: ignore[call-arg]


def test_no_constant_secret_in_settings() -> None:
    assert not hasattr(settings_module, "DEFAULT_SECRET")
    assert Settings(_env_file=None).secret_key == ""  # type: ignore[call-arg]
    assert Settings(_env_file=None).dev_mode is False  # type: ignore[call-arg]


def test_first_use_generates_private_strong_secrets(tmp_path: Path) -> None:
    settings = fresh(tmp_path)
    settings.ensure_secrets()
    for name in ("signing-secret", "webhook-token", "prefect-auth"):
        path = secret_path(tmp_path, name)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
    assert stat.S_IMODE((tmp_path / "secrets").stat().st_mode) == 0o700
    assert secret_weakness(settings.signing_secret) is None
    assert secret_weakness(settings.webhook_bearer) is None
    assert settings.signing_secret != settings.webhook_bearer
    user, _, password = settings.prefect_auth.partition(":")
    assert user == "ilp" and secret_weakness(password) is None
    # The same data dir gives the same secrets; another data dir other ones.
    assert fresh(tmp_path).signing_secret == settings.signing_secret
    assert fresh(tmp_path / "other").signing_secret != settings.signing_secret


def test_concurrent_first_use_agrees(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        values = set(pool.map(lambda _: load_or_create(tmp_path, "s"), range(32)))
    assert len(values) == 1
    assert [p.name for p in (tmp_path / "secrets").iterdir()] == ["s"]  # no temp files left


def test_a_secret_file_others_can_read_is_refused(tmp_path: Path) -> None:
    settings = fresh(tmp_path)
    path = secret_path(tmp_path, "signing-secret")
    _ = settings.signing_secret
    os.chmod(path, 0o644)
    with pytest.raises(InsecureSecretError, match="chmod 600"):
        _ = fresh(tmp_path).signing_secret


@pytest.mark.parametrize("weak", ["x", "   ", "changeme", "correct horse battery staple x y z"])
def test_weak_configured_secret_refused_outside_dev_mode(tmp_path: Path, weak: str) -> None:
    with pytest.raises(InsecureSecretError, match="ILP_SECRET_KEY"):
        _ = fresh(tmp_path, secret_key=weak).signing_secret
    with pytest.raises(InsecureSecretError, match="ILP_WEBHOOK_TOKEN"):
        _ = fresh(tmp_path, webhook_token=weak).webhook_bearer
    if weak.strip():  # blank is refused even in dev mode
        assert fresh(tmp_path, secret_key=weak, dev_mode=True).signing_secret == weak
    assert not (tmp_path / "secrets").exists()  # a configured secret writes nothing


def test_entropy_estimate() -> None:
    assert estimated_entropy_bits("x" * 64) == 0
    assert estimated_entropy_bits("0123456789abcdef" * 4) == 256  # 16 symbols, 4 bits each
    assert secret_weakness("0123456789abcdef" * 4) is None


def test_sweep_config_refuses_a_weak_secret(tmp_path: Path) -> None:
    from services.sweep import SweepConfig

    with pytest.raises(InsecureSecretError, match="ILP_SECRET_KEY"):
        SweepConfig.from_settings(fresh(tmp_path, secret_key="changeme"))
    config = SweepConfig.from_settings(fresh(tmp_path))
    assert config.secret_key == fresh(tmp_path).signing_secret


def test_settings_file_has_no_secret_literal() -> None:
    text = (REPO / "config" / "settings.py").read_text()
    assert 'secret_key: str = ""' in text
    done = subprocess.run(
        ["grep", "-rnE", "dev-insecure|DEFAULT_SECRET", "config", "services", "notifications"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.stdout == "", done.stdout


def test_the_runner_refuses_a_weak_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from config.settings import get_settings
    from deployments.serve import refuse_weak_secrets

    monkeypatch.setenv("ILP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ILP_SECRET_KEY", "changeme")
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as stopped:
            refuse_weak_secrets()
        assert stopped.value.code == 2
        err = capsys.readouterr().err
        assert "refusing to start" in err and len(err.strip().splitlines()) == 1
        monkeypatch.delenv("ILP_SECRET_KEY")
        get_settings.cache_clear()
        refuse_weak_secrets()  # generated: fine
    finally:
        get_settings.cache_clear()


def test_ilp_migrate_generates_the_secrets(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "ILP_DATA_DIR": str(tmp_path),
        "ILP_DATABASE_URL": f"sqlite:///{tmp_path / 'ilp.db'}",
    }
    ilp = Path(sys.executable).with_name("ilp")
    done = subprocess.run(
        [str(ilp), "migrate"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in (tmp_path / "secrets").iterdir())
    assert names == ["prefect-auth", "signing-secret", "webhook-token"]
    for path in (tmp_path / "secrets").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_text().strip() not in done.stdout + done.stderr  # never printed
    weak = subprocess.run(
        [str(ilp), "migrate"],
        cwd=REPO,
        env={**env, "ILP_WEBHOOK_TOKEN": "changeme"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert weak.returncode == 2 and "ILP_WEBHOOK_TOKEN" in weak.stderr
    assert len(weak.stderr.strip().splitlines()) == 1
