"""The command palette (ctrl+p): every action of the current screen, and the app's own.

A screen lists its actions by implementing ``commands()`` (see :class:`HasCommands`); other
screens offer their own key bindings (description and tooltip). The app adds help and quit.
Actions the screen's ``check_action`` does not allow right now are left out, so the palette
never offers something that would do nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, runtime_checkable

from textual.actions import parse
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.dom import DOMNode
from textual.screen import Screen


@dataclass(frozen=True, slots=True)
class Command:
    """One palette entry: a title, a help line and the action it runs on its screen."""

    title: str
    help: str
    action: str


@runtime_checkable
class HasCommands(Protocol):
    """A screen that lists its actions for the palette."""

    def commands(self) -> Iterable[Command]: ...


APP_COMMANDS = (
    Command("Help", "Show the keys of this screen", "app.help"),
    Command("Quit", "Quit workbench", "app.quit"),
)


def key_of(screen: Screen[Any], action: str) -> str:
    """The display of the first key bound to ``action`` on ``screen`` ('' when none)."""
    name = action.removeprefix("app.")
    found = [active.binding for active in screen.active_bindings.values()
             if active.binding.action.removeprefix("app.") == name]
    found.sort(key=lambda binding: binding.id is None)  # ours (with an id) first
    return screen.app.get_key_display(found[0]) if found else ""


def allowed(screen: Screen[Any], action: str) -> bool:
    """Whether ``action`` (``name``, ``name(args)`` or ``app.name``) may run now."""
    destination, name, params = parse(action)
    node: DOMNode = screen.app if destination == "app" else screen
    if not hasattr(node, f"action_{name}"):
        return False
    return node.check_action(name, params) is True


def binding_commands(screen: Screen[Any]) -> list[Command]:
    """Commands from the bindings (with an id) that ``screen``'s class declares."""
    app_actions = {c.action for c in APP_COMMANDS}
    found: dict[str, Command] = {}
    for base in type(screen).__mro__:
        for binding in base.__dict__.get("BINDINGS", ()):
            if (isinstance(binding, Binding) and binding.id and binding.action not in found
                    and binding.action not in app_actions):
                found[binding.action] = Command(binding.description or binding.id,
                                                binding.tooltip, binding.action)
    return list(found.values())


def commands_for(screen: Screen[Any]) -> list[Command]:
    """The screen's commands that are allowed now, then the app's."""
    own = list(screen.commands()) if isinstance(screen, HasCommands) else binding_commands(screen)
    return [c for c in (*own, *APP_COMMANDS) if allowed(screen, c.action)]


class ActionsProvider(Provider):
    """Offers :func:`commands_for` the screen the palette was opened on."""

    def _hits(self) -> list[tuple[Command, str]]:
        screen = self.screen
        result = []
        for command in commands_for(screen):
            key = key_of(screen, command.action)
            result.append((command, f"{command.help} ({key})" if key else command.help))
        return result

    def _runner(self, command: Command) -> partial[Any]:
        return partial(self.app.run_action, command.action, self.screen)

    async def discover(self) -> Hits:
        for command, text in self._hits():
            yield DiscoveryHit(command.title, self._runner(command), help=text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command, text in self._hits():
            score = matcher.match(command.title)
            if score > 0:
                yield Hit(score, matcher.highlight(command.title), self._runner(command),
                          text=command.title, help=text)
