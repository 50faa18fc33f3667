"""The one error hierarchy of the project.

Every error a user can cause or meet carries one sentence that says what went wrong and
what to do. The CLI prints that sentence and exits non-zero; the API turns it into a 4xx.
Causes are always chained (``raise ... from exc``) so that logs keep the whole story.
"""

from __future__ import annotations


class DataspaceError(Exception):
    """Root of every error this project raises on purpose."""

    exit_code = 1


class ConfigError(DataspaceError):
    """The configuration (environment, ``dataspace.toml``) is invalid."""

    exit_code = 2


class InvalidInput(DataspaceError):
    """A value given by a user or a peer is malformed or not allowed."""

    exit_code = 2


class NotFound(DataspaceError):
    """A named participant, product, agreement or object does not exist."""

    exit_code = 3


class Conflict(DataspaceError):
    """The request contradicts the current state (a duplicate, a wrong transition)."""

    exit_code = 4


class Unauthorized(DataspaceError):
    """The caller could not be authenticated, or is not allowed to do this."""

    exit_code = 5


class ServiceError(DataspaceError):
    """A service of the stack is missing, unreachable or failed to start."""

    exit_code = 6


class StoreBusy(ServiceError):
    """The control-plane database stayed locked by other writers for longer than we wait."""


class Refused(DataspaceError):
    """A rule the action must meet stopped it: an unapproved application, a release that would
    not be k-anonymous. Nothing was released; the message says which rule and what to do."""

    exit_code = 9
