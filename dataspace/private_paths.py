"""Directories and files that hold business data are readable by their owner only.

A participant's state (its database, its keys, the files it landed, the reports it staged)
must not be readable by other users of the machine. Directories are made 0700 and files 0600
when they are created, with an explicit chmod, because ``mkdir``'s and ``open``'s mode is
narrowed by the umask and a lax umask would leave them open.

Guarantees: a directory that already exists keeps its mode (it may be a shared directory the
user chose), unless it is one this project owns (``ours=True``: the state directory); nothing
here ever deletes or truncates an existing file except :func:`open_private`, which is asked to.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from dataspace.errors import ConfigError

PRIVATE_DIRECTORY_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_directory(path: Path, *, ours: bool = False) -> Path:
    """Create ``path`` and its missing parents as 0700 directories; return ``path``.

    With ``ours``, ``path`` itself is made 0700 even if it existed (ConfigError if it is
    another user's).
    """
    missing = [directory for directory in (path, *path.parents) if not directory.exists()]
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIRECTORY_MODE)
        except FileExistsError:
            continue  # another process made it meanwhile; it is not ours to change
        directory.chmod(PRIVATE_DIRECTORY_MODE)
    if ours:
        try:
            path.chmod(PRIVATE_DIRECTORY_MODE)
        except PermissionError as exc:
            raise ConfigError(
                f"The directory {path} belongs to another user, so it cannot be made "
                "private; use a directory of your own."
            ) from exc
    return path


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists, so that a program that creates
    it otherwise (SQLite) opens a file that is already private."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return
    try:
        os.fchmod(descriptor, PRIVATE_FILE_MODE)
    finally:
        os.close(descriptor)


def open_private(path: Path) -> BinaryIO:
    """``path`` opened to write bytes, truncated, with mode 0600 (also if it existed)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    try:
        os.fchmod(descriptor, PRIVATE_FILE_MODE)
        return os.fdopen(descriptor, "wb")
    except BaseException:
        os.close(descriptor)
        raise
