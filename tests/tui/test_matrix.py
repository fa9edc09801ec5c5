"""The matrix cell model, and a status provider filling cells through a worker."""

from __future__ import annotations

from collections.abc import Iterable

from conftest import SIZE, MakeProject, settle
from textual.widgets import DataTable

from screens.app import WorkbenchApp
from screens.matrix import UNKNOWN, Cell, CellUpdate, Matrix
from workbench.errors import Unreachable
from workbench.ops.listing import Listing


def test_cells_render_unknown_absent_and_deployed() -> None:
    assert str(UNKNOWN.render()) == "-"
    assert str(Cell(deployed=False).render()) == "not deployed"
    cell = Cell(deployed=True, version="3f2a9c0d1e", health="healthy", drift=True)
    assert str(cell.render()) == "3f2a9c0d healthy drift"


def test_matrix_keeps_known_cells_when_reshaped() -> None:
    matrix = Matrix(["orders"], ["local"])
    assert matrix.apply(CellUpdate("orders", "local", Cell(deployed=False)))
    assert not matrix.apply(CellUpdate("ghost", "local", Cell(deployed=False)))
    grown = matrix.reshaped(["orders", "billing"], ["local", "staging"])
    assert grown.get("orders", "local") == Cell(deployed=False)
    assert grown.get("billing", "staging") is UNKNOWN


async def test_a_status_provider_fills_the_cells(make_project: MakeProject) -> None:
    def provider(listing: Listing) -> Iterable[CellUpdate]:
        yield CellUpdate("orders", "local", Cell(True, "abc12345", "healthy"))
        yield CellUpdate("orders", "staging", Cell(deployed=False))

    app = WorkbenchApp(make_project(), status=provider)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        matrix = app.screen.query_one("#matrix", DataTable)
        assert [str(c) for c in matrix.get_row("orders")] == [
            "abc12345 healthy", "not deployed", "-", "-"]


async def test_a_failing_provider_is_a_notification(make_project: MakeProject) -> None:
    def provider(listing: Listing) -> Iterable[CellUpdate]:
        raise Unreachable("cannot reach deploy@staging.invalid", "check the host")

    app = WorkbenchApp(make_project(), status=provider)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.is_running
        assert [n.message for n in app._notifications] == [
            "cannot reach deploy@staging.invalid; check the host"]
