"""The main screen's entries in the command palette (plain data)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .palette import Command
from .panes import ProjectItem


def main_commands(items: Iterable[ProjectItem]) -> Iterator[Command]:
    """Every action of the main screen; ``items`` are the projects it can switch to."""
    yield Command("New endpoint", "Create an endpoint (python or static template)",
                  "new('endpoint')")
    yield Command("New model", "Create a shared model package", "new('model')")
    yield Command("New utility", "Create a shared utility package", "new('utility')")
    yield Command("Test", "Test the highlighted endpoint in throwaway containers (in the "
                  "projects pane: all of them)", "test")
    yield Command("Test all endpoints", "Build, start, health-check and test every "
                  "endpoint of the project", "test('all')")
    yield Command("Deploy", "Deploy the highlighted endpoint (in the projects pane: all "
                  "of them) to an environment you pick", "deploy")
    yield Command("Deploy all endpoints", "Deploy every endpoint of the project, in "
                  "phases, to an environment you pick", "deploy('all')")
    yield Command("Rollback", "Roll the highlighted endpoint back to an earlier release",
                  "rollback")
    yield Command("Compare", "Compare two environments, or one against the repo, side by "
                  "side", "compare")
    yield Command("Logs", "Follow the logs of the highlighted endpoint in the highlighted "
                  "environment, every host merged in time order", "logs")
    yield Command("Releases", "The release history of the highlighted endpoint in the "
                  "highlighted environment (enter rolls back to one)", "releases")
    yield Command("Diff against the repo", "The highlighted environment against the repo, "
                  "side by side", "diff")
    yield Command("Deploy lock", "Show (and release) an environment's deploy lock", "lock")
    yield Command("Sync", "Fetch every repo of the project, fast-forward the ones behind, and "
                  "show each one's branch, ahead/behind and dirty state", "sync")
    yield Command("Update from template", "Show what a newer template version changes in the "
                  "highlighted folder (in the projects pane: all of them), then apply it",
                  "update")
    yield Command("Update all from templates", "Apply newer template versions to the project "
                  "and all its endpoints, models and utilities, after showing the diff",
                  "update('all')")
    yield Command("Switch project", "Go to the projects pane to choose one",
                  "focus_pane('projects')")
    for item in items:
        if item.exists:
            yield Command(f"Switch to project {item.name}", str(item.path),
                          f"open_project({str(item.path)!r})")
    yield Command("Go to endpoints", "Focus the endpoints pane", "focus_pane('endpoints')")
    yield Command("Go to environments", "Focus the endpoint x environment matrix",
                  "focus_pane('environments')")
    yield Command("Next pane", "Focus the next pane", "next_pane")
    yield Command("Previous pane", "Focus the previous pane", "previous_pane")
    yield Command("Filter", "Filter the focused list", "filter")
    yield Command("Refresh", "Read the projects, endpoints and git state again", "refresh")
    yield Command("Open demo project", "Create (once) and open the demo project in your "
                  "data folder", "open_demo")
