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
                           "EQUALS=a=b\nPLAIN=last wins\r\nexport=5\n")
    assert read_env_file(path) == {"PLAIN": "last wins", "EXPORTED": "two",
                                   "DOUBLE": "three # not a comment", "SINGLE": "four",
                                   "EMPTY": "", "EQUALS": "a=b", "export": "5"}


@pytest.mark.parametrize(("line", "value"), [
    pytest.param("KEY=value # comment", "value", id="comment-after-space"),
    pytest.param("KEY=value\t# comment", "value", id="comment-after-tab"),
    pytest.param("KEY=a b  # comment", "a b", id="inner-space-kept"),
    pytest.param("KEY=val#ue", "val#ue", id="hash-inside-kept"),
    pytest.param("KEY=value#", "value#", id="hash-at-end-kept"),
    pytest.param("KEY=\"a # b\" # comment", "a # b", id="double-quoted-hash-kept"),
    pytest.param("KEY='a # b'#comment", "a # b", id="single-quoted-then-comment"),
    pytest.param("KEY='#start'", "#start", id="quoted-leading-hash"),
    pytest.param("KEY=\"\"", "", id="empty-quoted"),
    pytest.param("KEY=it's", "it's", id="unquoted-apostrophe"),
    pytest.param("KEY=C:\\dir\\x", "C:\\dir\\x", id="unquoted-backslash-literal"),
    pytest.param("KEY='C:\\dir'", "C:\\dir", id="single-quoted-backslash"),
    pytest.param("KEY='${HOME}'", "${HOME}", id="single-quoted-dollar-brace"),
    pytest.param("KEY=$HOME", "$HOME", id="bare-dollar-literal"),
    pytest.param("KEY=a\tb", "a\tb", id="tab-kept"),
])
def test_inline_comments_and_quotes_follow_dotenv(tmp_path: Path, line: str, value: str) -> None:
    assert read_env_file(write(tmp_path, f"# x\n{line}\n")) == {"KEY": value}


@pytest.mark.parametrize(("line", "words"), [
    pytest.param(f"KEY=\"{VALUE}", ["opens a \" quote", "same line"], id="unclosed-double"),
    pytest.param(f"KEY='{VALUE}", ["opens a ' quote"], id="unclosed-single"),
    pytest.param(f"KEY=\"{VALUE}\" trailing", ["text after its closing quote"],
                 id="text-after-quote"),
    pytest.param(f"KEY='it's {VALUE}'", ["text after its closing quote"], id="quote-in-quotes"),
    pytest.param(f"KEY=\"{VALUE}\\n\"", ["backslash inside double quotes", "single quotes"],
                 id="escape-in-double-quotes"),
    pytest.param(f"KEY=#{VALUE}", ["starts with '#'", "quote it"], id="hash-first"),
    pytest.param(f"KEY= #{VALUE}", ["starts with '#'"], id="space-hash-first"),
    pytest.param(f"KEY=${{OTHER}}{VALUE}", ["'${'", "single-quote"], id="expansion"),
    pytest.param(f"KEY=\"${{OTHER}}{VALUE}\"", ["'${'"], id="expansion-in-double-quotes"),
    pytest.param(f"KEY={VALUE}\x00x", ["a NUL character"], id="nul"),
    pytest.param(f"KEY={VALUE}\rINJECTED=1", ["a carriage return (CR)"], id="lone-cr"),
    pytest.param(f"KEY={VALUE}\x1b[2J", ["U+001B"], id="escape-char"),
    pytest.param(f"KEY={VALUE}\u2028x", ["U+2028"], id="unicode-line-separator"),
    pytest.param(f"KEY\n={VALUE}", ["not a NAME=value line"], id="newline-in-name"),
])
def test_ambiguous_or_unsafe_lines_are_refused_naming_file_line_and_name(
        tmp_path: Path, line: str, words: list[str]) -> None:
    path = write(tmp_path, f"# secrets\nGOOD=1\n{line}\n")
    with pytest.raises(ConfigError) as caught:
        read_env_file(path)
    message = caught.value.line
    assert message.startswith(f"{path}:3: "), message
    assert VALUE not in message and VALUE not in repr(caught.value)
    for word in words:
        assert word in message, message


def test_a_secrets_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    path.write_bytes(b"A=1\nB=2\nC=caf\xe9\n")
    with pytest.raises(ConfigError, match=r":3: the secrets file is not UTF-8 text"):
        read_env_file(path)


def test_a_huge_secrets_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "A=" + "x" * (2 << 20) + "\n")
    with pytest.raises(ConfigError, match="larger than 1 MiB"):
        read_env_file(path)


def test_a_bom_and_crlf_line_ends_are_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    path.write_bytes(b"\xef\xbb\xbfA=1\r\nB='2' # c\r\n")
    assert read_env_file(path) == {"A": "1", "B": "2"}


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
