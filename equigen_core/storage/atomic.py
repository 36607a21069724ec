"""The one way this library writes a file: to a temporary sibling, then renamed over the target, so a crash or a
cancelled run never leaves half a file where a good one was (checkpoint directories get the same treatment at the
directory level in storage.checkpoint).

    with atomic_path("docs/RESULTS.md") as tmp:
        tmp.write_text(text)           # or img.save(tmp, format="PNG"), save_file(tensors, str(tmp)), ...
    atomic_write_text("out.json", json.dumps(result))
"""
from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on a clean exit it replaces `path` (atomically on one file system), on an
    exception it is deleted and `path` is left as it was. Writers must name the format explicitly: the temporary name
    ends in `.tmp`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
