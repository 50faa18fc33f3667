"""One base for the things that are opened, used in a ``with`` block, and closed."""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Self

from dataspace.errors import DataspaceError

log = logging.getLogger(__name__)


class Closing:
    """A context manager whose block ends with :meth:`close`.

    When the block ends by an exception, that exception is the one reported: a failure of
    ``close`` itself (a producer that cannot flush, say) is logged instead of replacing it.
    """

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
            return
        try:
            self.close()
        except DataspaceError:
            log.debug("closing %s after a failure also failed", type(self).__name__, exc_info=True)
