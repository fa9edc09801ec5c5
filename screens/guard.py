"""Actions that change an environment: hidden when it is readonly, confirmed when protected.

Decorate such an action with :func:`changes_environment`. The screen's ``check_action`` asks
:func:`hidden` to hide it (``False``) while the selected environment is readonly, and the
wrapper asks for the environment's name (:class:`~screens.confirm.ConfirmByName`) before it
runs on a protected one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from textual.screen import Screen

from workbench.model import Environment

from .confirm import ConfirmByName

FLAG = "changes_environment"


def changes_environment(what: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Mark an action method as changing the selected environment; ``what`` names it."""

    def decorate(method: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(method)
        def action(self: Screen[Any], *args: Any) -> None:
            env: Environment | None = getattr(self, "selected_environment", None)
            guarded(self, env, what, lambda: method(self, *args))

        setattr(action, FLAG, True)
        return action

    return decorate


def is_environment_action(owner: object, action: str) -> bool:
    """Whether ``owner.action_<action>`` was marked with :func:`changes_environment`."""
    return bool(getattr(getattr(owner, f"action_{action}", None), FLAG, False))


def has_environment_actions(screen: Screen[Any]) -> bool:
    """Whether any binding of ``screen`` runs an action marked with :func:`changes_environment`."""
    from textual.actions import parse
    from textual.binding import Binding

    return any(is_environment_action(screen, parse(binding.action)[1])
               for base in type(screen).__mro__ for binding in base.__dict__.get("BINDINGS", ())
               if isinstance(binding, Binding))


def hidden(owner: object, action: str, env: Environment | None) -> bool:
    """True when ``action`` changes an environment and ``env`` forbids it (readonly)."""
    return is_environment_action(owner, action) and (env is None or env.readonly)


def guarded(screen: Screen[Any], env: Environment | None, what: str,
            proceed: Callable[[], object]) -> None:
    """Run ``proceed`` if ``env`` allows it, after the typed-name confirmation if protected."""
    if env is None:
        screen.notify("Choose an environment first: press 3 and move to its column.",
                      severity="warning")
        return
    if env.readonly:
        screen.notify(f"Environment '{env.name}' is readonly: {what} is not allowed.",
                      severity="error")
        return
    if not env.protected:
        proceed()
        return

    def answered(confirmed: bool | None) -> None:
        if confirmed:
            proceed()
        else:
            screen.notify(f"{what} on '{env.name}' was cancelled; nothing changed.")

    screen.app.push_screen(ConfirmByName(env.name, what), answered)
