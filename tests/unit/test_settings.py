from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from api.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_documented_in_env_example() -> None:
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z_]+)=", example, re.MULTILINE))
    assert documented == {name.upper() for name in Settings.model_fields}


def test_every_setting_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [name.upper() for name in Settings.model_fields if f"`{name.upper()}`" not in readme]
    assert missing == []


def test_api_keys_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEYS", " key-one, key-two ,,key-three")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert [k.get_secret_value() for k in settings.api_keys] == ["key-one", "key-two", "key-three"]
    assert "key-one" not in repr(settings)


def test_unset_or_empty_api_keys_leave_the_api_open(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("API_KEYS", raising=False)
    assert Settings(_env_file=None).api_keys == ()  # type: ignore[call-arg]
    monkeypatch.setenv("API_KEYS", "")
    assert Settings(_env_file=None).api_keys == ()  # type: ignore[call-arg]


def test_api_keys_of_only_commas_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEYS", " , ,")
    with pytest.raises(ValidationError, match="api_keys"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_cors_origins_is_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "http://localhost:3000/, https://chat.example.com")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.cors_origins == ("http://localhost:3000", "https://chat.example.com")


def test_a_pool_smaller_at_least_than_at_most_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_POOL_MIN_SIZE", "30")
    monkeypatch.setenv("DB_POOL_MAX_SIZE", "20")
    with pytest.raises(
        ValidationError, match=r"DB_POOL_MIN_SIZE \(30\) is larger than DB_POOL_MAX_SIZE \(20\)"
    ):
        Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize("seconds", ["30", "45.5"])
def test_a_heartbeat_of_30_seconds_or_more_is_refused(
    monkeypatch: pytest.MonkeyPatch, seconds: str
) -> None:
    monkeypatch.setenv("HEARTBEAT_SECONDS", seconds)
    with pytest.raises(ValidationError, match=r"HEARTBEAT_SECONDS \(.+\) must be under 30"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv("HEARTBEAT_SECONDS", "29.5")
    assert Settings(_env_file=None).heartbeat_seconds == 29.5  # type: ignore[call-arg]
