"""Argument parsing shared by the batch commands: one-line errors and value types."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from typing import NoReturn

from ..errors import BadInput


class Parser(argparse.ArgumentParser):
    """argparse that raises BadInput (one line, exit 2) instead of printing usage."""

    def error(self, message: str) -> NoReturn:
        raise BadInput(f"{message}", f"see '{self.prog} --help'")


def seconds(text: str) -> float:
    """A number of seconds from 0 to a day (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 86400:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (0..86400)")
    return value


def positive(text: str) -> int:
    """A whole number above 0 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number above 0")
    return value


def assignments(items: Sequence[str]) -> dict[str, str]:
    """``NAME=VALUE`` build args as a dict; a malformed one is bad input."""
    result: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            raise BadInput(f"--build-arg {item!r} is not NAME=VALUE",
                           "write e.g. --build-arg BASE_IMAGE=python:3.12-slim")
        result[name] = value
    return result

