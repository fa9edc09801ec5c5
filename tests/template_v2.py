"""A copy of the templates where endpoint-python has a version 2 (importable as
``template_v2``): v1 kept under ``versions/1/``, as ``python -m workbench.scaffold freeze`` does.

Version 2 adds ``CONTRIBUTING.md`` (rendered with the answers), changes one line of ``app.py``
(``GRACE_SECONDS``) and drops ``lib/README.md``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from workbench import scaffold

OLD_LINE = "GRACE_SECONDS = 5.0"
NEW_LINE = "GRACE_SECONDS = 10.0"
OTHER_LINE = 'server_version = "app/1"'
CHANGELOG = "Stop gracefully within 10 s; add CONTRIBUTING.md"


def make_templates(parent: Path) -> Path:
    """The installed templates, copied under ``parent``, with endpoint-python at version 2."""
    root = parent / "scaffolds"
    shutil.copytree(scaffold.scaffolds_root(), root,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return root


def bump(root: Path, monkeypatch: pytest.MonkeyPatch | None = None) -> None:
    """Make endpoint-python version 2 in the templates at ``root``."""
    if monkeypatch is not None:
        monkeypatch.setenv("WORKBENCH_SCAFFOLDS", str(root))
    folder = root / "endpoint-python"
    shutil.copytree(folder, folder / "versions" / "1",
                    ignore=shutil.ignore_patterns("versions", "__pycache__", "*.pyc"))
    app = folder / "files" / "app.py"
    text = app.read_text()
    assert OLD_LINE in text and OTHER_LINE in text
    app.write_text(text.replace(OLD_LINE, NEW_LINE))
    (folder / "files" / "CONTRIBUTING.md.j2").write_text(
        "# Contributing to {{ name }}\n\nRun the tests with `workbench --batch test -e "
        "{{ name }}`.\n")
    (folder / "files" / "lib" / "README.md").unlink()
    meta = folder / "template.yaml"
    meta.write_text(meta.read_text().replace("version: 1", "version: 2")
                    + f"  2: {CHANGELOG}\n")
