"""Entry point: ``workbench --batch ...`` runs headless; plain ``workbench`` opens the TUI.

This is the one place where the core hands over to the TUI front end (``screens``), by name
and only when no ``--batch`` is given, so batch mode never loads textual (a test checks it).
"""

from __future__ import annotations

import importlib
import sys


def main() -> None:
    argv = sys.argv[1:]
    if "--batch" in argv or (argv[:1] and argv[0] in ("-h", "--help", "--version")):
        from .cli import run

        sys.exit(run(argv))
    tui = importlib.import_module("screens.app")
    sys.exit(tui.run(argv))


if __name__ == "__main__":
    main()
