"""Build contexts: what goes in the tar, a deterministic version, build args, one-line errors."""

from __future__ import annotations

import dataclasses
import io
import os
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from workbench.context import build_args, build_context
from workbench.errors import BadInput
from workbench.model import load_project
from workbench.ops.new import new_child, new_project


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """Project shop: endpoint orders including model customer-record, with build args."""
    new_project(tmp_path, "shop")
    root = tmp_path / "shop"
    new_child(root, "endpoint", "orders")
    new_child(root, "model", "customer-record")
    project_file = root / "workbench.yaml"
    project_file.write_text(project_file.read_text().replace(
        "build_args: {}", "build_args: {BASE_IMAGE: base:p, SHARED: project, ONLY_P: p}"))
    endpoint = root / "endpoints" / "orders"
    config = endpoint / "endpoint.yaml"
    config.write_text(config.read_text()
                      .replace("models: []", "models: [customer-record]")
                      .replace("build_args: {}", "build_args: {SHARED: endpoint, ONLY_E: e}"))
    # Only what this test says is ignored; __pycache__ and *.pyc are left out by workbench itself.
    (endpoint / ".dockerignore").write_text(".git\ntests/\nsecret.txt\nDockerfile\n")
    (endpoint / "secret.txt").write_text("do not ship\n")
    package = root / "models" / "customer-record" / "customer_record"
    for folder in (endpoint, package):
        (folder / "__pycache__").mkdir()
        (folder / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (package / "stale.pyc").write_bytes(b"\0")
    return root


def members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {info.name: info for info in tar.getmembers()}


def test_context_is_the_endpoint_without_ignored_files_plus_the_model_package(shop: Path) -> None:
    proj = load_project(shop)
    context = build_context(proj, proj.endpoint("orders"))
    found = members(context.data)
    assert {"Dockerfile", "app.py", "endpoint.yaml", "lib/customer_record/__init__.py",
            "lib/customer_record/py.typed"} <= set(found)
    assert not {"secret.txt", "tests", "tests/test_api.py", ".git"} & set(found)
    assert not [name for name in found if "__pycache__" in name or name.endswith(".pyc")]
    assert found["lib/customer_record"].isdir()
    with tarfile.open(fileobj=io.BytesIO(context.data)) as tar:
        shipped = tar.extractfile("lib/customer_record/__init__.py")
        assert shipped is not None and shipped.read() == (
            shop / "models/customer-record/customer_record/__init__.py").read_bytes()
    assert context.files == sum(1 for info in found.values() if info.isfile())
    assert {(info.mtime, info.uid, info.gid) for info in found.values()} == {(0, 0, 0)}
    assert len(context.version) == 12 and int(context.version, 16) >= 0


def test_same_inputs_give_the_same_bytes_and_version_whatever_the_mtimes(shop: Path) -> None:
    proj = load_project(shop)
    first = build_context(proj, proj.endpoint("orders"))
    for folder, _dirs, files in os.walk(shop):
        for name in files:
            os.utime(Path(folder) / name, (1_000_000, 1_000_000))
    again = build_context(load_project(shop), proj.endpoint("orders"))
    assert (again.data, again.version) == (first.data, first.version)


def test_content_and_build_args_change_the_version(shop: Path) -> None:
    proj = load_project(shop)
    orders = proj.endpoint("orders")
    version = build_context(proj, orders).version
    app = shop / "endpoints/orders/app.py"
    original = app.read_text()
    app.write_text(original + "# changed\n")
    assert build_context(proj, orders).version != version
    app.write_text(original)
    assert build_context(proj, orders).version == version
    model = shop / "models/customer-record/customer_record/__init__.py"
    model.write_text(model.read_text() + "# changed\n")
    changed_model = build_context(proj, orders).version
    assert changed_model != version
    assert build_context(proj, orders, {"ONLY_E": "other"}).version != changed_model
    (shop / "endpoints/orders/secret.txt").write_text("ignored, so no new version\n")
    assert build_context(proj, orders).version == changed_model


def test_build_args_precedence_project_endpoint_extra(shop: Path) -> None:
    proj = load_project(shop)
    orders = proj.endpoint("orders")
    assert build_args(proj, orders) == {"BASE_IMAGE": "base:p", "SHARED": "endpoint",
                                        "ONLY_P": "p", "ONLY_E": "e"}
    context = build_context(proj, orders, {"SHARED": "extra", "BASE_IMAGE": "mine"})
    assert dict(context.build_args) == {"BASE_IMAGE": "mine", "SHARED": "extra", "ONLY_P": "p",
                                        "ONLY_E": "e"}


def no_dockerfile(shop: Path) -> None:
    (shop / "endpoints/orders/Dockerfile").unlink()


def own_lib_package(shop: Path) -> None:
    (shop / "endpoints/orders/lib/customer_record").mkdir()
    (shop / "endpoints/orders/lib/customer_record/__init__.py").write_text("")


def no_package_folder(shop: Path) -> None:
    shutil.rmtree(shop / "models/customer-record/customer_record")


@pytest.mark.parametrize(("breakage", "problem", "fix"), [
    (no_dockerfile, "endpoint 'orders' has no Dockerfile", "add one"),
    (own_lib_package, "endpoint 'orders' has its own lib/customer_record and also includes "
     "model 'customer-record'", "remove .*/endpoints/orders/lib/customer_record"),
    (no_package_folder, "model 'customer-record' has no package folder",
     "put its code in .*/customer_record/__init__.py"),
], ids=["no-dockerfile", "own-lib-package", "no-package-folder"])
def test_errors_are_one_line_bad_input_naming_the_fix(
        shop: Path, breakage: Callable[[Path], None], problem: str, fix: str) -> None:
    proj = load_project(shop)
    breakage(shop)
    with pytest.raises(BadInput, match=f"^{problem}.*; {fix}") as caught:
        build_context(proj, proj.endpoint("orders"))
    assert "\n" not in caught.value.line and caught.value.exit_code == 2


def test_including_a_model_that_is_not_in_the_project_is_bad_input(shop: Path) -> None:
    proj = load_project(shop)
    orders = dataclasses.replace(proj.endpoint("orders"), models=("nope",))
    with pytest.raises(BadInput, match="includes model 'nope', which is not in this project; "
                                       "add it with 'workbench --batch new -m nope'"):
        build_context(proj, orders)
