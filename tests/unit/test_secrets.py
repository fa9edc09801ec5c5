"""Secrets files: parsing, and errors that name files, lines and secrets but never a value."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.errors import BadInput, ConfigError
from workbench.secrets import read_env_file, secrets_for

VALUE = "s3cr3t-Vq8wZ"
FILE = ".workbench/secrets/staging.env"


def write(root: Path, text: str) -> Path:
    path = root / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_parsing_comments_export_quotes_and_spaces(tmp_path: Path) -> None:
    path = write(tmp_path, "# a comment\n\n  PLAIN=one\nexport EXPORTED = two \n"
                           "DOUBLE=\"three # not a comment\"\nSINGLE='four'\nEMPTY=\n"
                           "EQUALS=a=b\nHALF=\"five\nPLAIN=last wins\n")
    assert read_env_file(path) == {"PLAIN": "last wins", "EXPORTED": "two",
                                   "DOUBLE": "three # not a comment", "SINGLE": "four",
                                   "EMPTY": "", "EQUALS": "a=b", "HALF": "\"five"}


@pytest.mark.parametrize("bad", [f"password {VALUE}", f"9LIVES={VALUE}", f"MY-KEY={VALUE}",
                                 f"export {VALUE}"])
def test_a_bad_line_is_a_config_error_with_file_and_line_but_not_the_line(
        tmp_path: Path, bad: str) -> None:
    path = write(tmp_path, f"# secrets\nGOOD=1\n{bad}\n")
    with pytest.raises(ConfigError, match="not a NAME=value line") as caught:
        read_env_file(path)
    assert caught.value.line.startswith(f"{path}:3: ")
    assert caught.value.lineno == 3 and VALUE not in caught.value.line


def test_secrets_for_returns_only_what_the_endpoint_declares(tmp_path: Path) -> None:
    write(tmp_path, f"DB_PASSWORD={VALUE}\nOTHER=x\n")
    assert secrets_for(tmp_path, FILE, "staging", "orders", ["DB_PASSWORD"]) == {
        "DB_PASSWORD": VALUE}
    assert secrets_for(tmp_path, "missing.env", "staging", "orders", []) == {}


def test_a_missing_secrets_file_names_the_file_and_the_secrets(tmp_path: Path) -> None:
    with pytest.raises(BadInput) as caught:
        secrets_for(tmp_path, FILE, "staging", "orders", ["DB_PASSWORD", "API_KEY"])
    line = caught.value.line
    assert str(tmp_path / FILE) in line and "DB_PASSWORD, API_KEY" in line
    assert "'staging' environment" in line and "\n" not in line


def test_a_missing_secret_names_it_and_never_shows_any_value(tmp_path: Path) -> None:
    write(tmp_path, f"DB_PASSWORD={VALUE}\nAPI_KEY='{VALUE}-2'\n")
    with pytest.raises(BadInput, match=r"has no value for TOKEN \(needed by endpoint 'orders'\)"
                       ) as caught:
        secrets_for(tmp_path, FILE, "staging", "orders", ["DB_PASSWORD", "TOKEN", "API_KEY"])
    assert VALUE not in caught.value.line and VALUE not in repr(caught.value)
    assert "DB_PASSWORD" not in caught.value.line  # only the missing ones are named
