"""Errors a user can act on.

Anything raised as a ``UserError`` is shown to the duty manager as its message alone: no traceback,
and the operation that raised it has changed nothing.
"""


class UserError(Exception):
    """A problem with the input or the state that the user can fix; the message says how."""


class NotFound(UserError):
    """An incident, person, party or group that does not exist."""


class StorageError(UserError):
    """The database could not be opened, read or written (disk full, read-only, damaged, newer)."""


class OutOfRange(UserError):
    """A value outside the bounds the console accepts (a date beyond its window, a length or
    count too large); the message names the bound. On the command line it is a usage error."""
