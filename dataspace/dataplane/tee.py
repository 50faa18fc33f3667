"""Handing every item of a stream to side consumers on its way to the main one."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

Item = TypeVar("Item")


def tee(items: Iterable[Item], *sides: Callable[[Item], object]) -> Iterator[Item]:
    """``items``, each given to every side, in order, before it is yielded.

    Publish reads its input once: each batch goes to the views and to the quality gate, then
    to the release's writer, which drives the iteration. A side that raises stops the stream.
    """
    for item in items:
        for side in sides:
            side(item)
        yield item
