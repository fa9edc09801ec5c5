"""The Textual TUI of workbench: one module and one .tcss per screen (``app.run`` starts it)."""
