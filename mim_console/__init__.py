"""mim-console: the duty manager's console for Major Incident Management."""

__version__ = "0.1.0"
