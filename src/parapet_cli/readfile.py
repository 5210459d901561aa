"""Reading a file of the host's repository without ever blocking on it.

``open()`` on a FIFO waits for a writer, and on a character device may never end; a repository can hold either
under any name (``evil.py``). ``read_regular`` opens without blocking, checks on the open descriptor that it is a
regular file (no race between a check and the open), and only then reads.
"""

from __future__ import annotations

import os
import stat


class NotRegularFile(OSError):
    """The path is a FIFO, a socket, a device or a directory: never read."""


class TooLarge(OSError):
    """The file is larger than the caller's limit."""


_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)


def read_regular(path: str | os.PathLike[str], limit: int | None = None) -> tuple[bytes, os.stat_result]:
    """The bytes of the regular file ``path`` and its stat; ``NotRegularFile``/``TooLarge``/``OSError`` otherwise."""
    fd = os.open(path, _FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(f"not a regular file: {os.fspath(path)}")
        if limit is not None and st.st_size > limit:
            raise TooLarge(f"larger than {limit} bytes: {os.fspath(path)}")
        chunks: list[bytes] = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            if limit is not None and sum(map(len, chunks)) > limit:
                raise TooLarge(f"larger than {limit} bytes: {os.fspath(path)}")
        return b"".join(chunks), st
    finally:
        os.close(fd)
