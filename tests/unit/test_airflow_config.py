"""airflow.cfg as `up --with-airflow` writes it: this node's options from the same mapping as
the environment of its Airflow processes, private, rewritten on each start without losing what
else the file holds (a user's options, the secrets every process must share)."""

from __future__ import annotations

import configparser
import stat
from pathlib import Path

import pytest

from dataspace.config import Settings
from dataspace.errors import ConfigError
from dataspace.orchestration import airflow_environment, write_airflow_config

SECRETS = [("core", "fernet_key"), ("api", "secret_key"), ("api_auth", "jwt_secret")]


def read(path: Path) -> configparser.ConfigParser:
    config = configparser.ConfigParser(interpolation=None)
    config.read(path)
    return config


def test_the_file_holds_the_environments_options_and_is_private(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, airflow_port=28800)

    path = write_airflow_config(settings, settings.airflow_home)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    config = read(path)
    written = {
        f"AIRFLOW__{section.upper()}__{option.upper()}": value
        for section in config.sections()
        for option, value in config[section].items()
    }
    environment = airflow_environment(settings, settings.airflow_home)
    ours = {name: value for name, value in environment.items() if name.startswith("AIRFLOW__")}
    assert ours.items() <= written.items()
    assert (config["core"]["dags_folder"], config["core"]["load_examples"]) == (
        str(settings.dags_dir), "False"
    )  # fmt: skip
    assert (config["api"]["host"], config["api"]["port"]) == ("127.0.0.1", "28800")
    assert all(config[section][option] for section, option in SECRETS)


def test_a_rewrite_takes_new_settings_and_keeps_the_rest(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, airflow_port=28800)
    path = write_airflow_config(settings, settings.airflow_home)
    first = read(path)
    with path.open("a") as file:
        file.write("[smtp]\nsmtp_host = mail.example\n")
    path.chmod(0o644)

    write_airflow_config(settings.model_copy(update={"airflow_port": 28900}), path.parent)

    again = read(path)
    assert again["api"]["port"] == "28900"
    assert again["smtp"]["smtp_host"] == "mail.example"
    for section, option in SECRETS:
        assert again[section][option] == first[section][option]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_file_that_is_not_a_configuration_is_named_with_what_to_do(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    settings.airflow_home.mkdir()
    (settings.airflow_home / "airflow.cfg").write_text("dags_folder = /somewhere\n")

    with pytest.raises(ConfigError, match=r"airflow.cfg is not a valid Airflow configuration"):
        write_airflow_config(settings, settings.airflow_home)
