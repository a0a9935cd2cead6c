"""The data dir and backups are readable by the service account only: folders 0700, files 0600.

They hold what learners wrote, payments and the admin list, so they never follow a permissive umask
(022 makes them world-readable, 000 world-writable). :func:`private_umask` makes every file the
process creates from then on private (SQLite's database, ``-wal`` and ``-shm`` files, Chroma's
folders, the converted model); :func:`make_private` tightens what exists already (a data dir from an
older release, a finished backup). Data created by other programs is left alone.

Example:
    >>> private_umask()
    >>> make_data_dir_private(settings.data_dir)
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_umask() -> int:
    """Add 077 to the process umask (nothing for group or others); returns the umask before."""
    before = os.umask(0o077)
    os.umask(before | 0o077)
    return before


LEARNBOT_ENTRIES = ("learnbot.db*", "learnbot.toml", "chroma", "chroma.lock", "models")
"""What Learnbot keeps in a data dir; :func:`make_data_dir_private` touches these and nothing else."""


def make_data_dir_private(data_dir: Path) -> int:
    """The data dir 0700 and Learnbot's own entries in it private; returns how many modes changed.

    Other things an admin keeps there (a data dir may be pointed at a shared folder) are left alone.
    """
    if not data_dir.is_dir():
        return 0
    changed = make_private(data_dir, recursive=False)
    for pattern in LEARNBOT_ENTRIES:
        for entry in data_dir.glob(pattern):
            changed += make_private(entry)
    return changed


def make_private(path: Path, recursive: bool = True) -> int:
    """Set ``path`` and, when ``recursive``, what lies under it: folders 0700, files 0600.

    Returns how many modes changed. Symbolic links are left alone (their targets are not ours to
    change), and so are entries owned by another user (chmod would fail on them anyway).
    """
    if not path.exists() or path.is_symlink():
        return 0
    changed = 0
    uid = os.getuid()
    entries = [path, *path.rglob("*")] if recursive and path.is_dir() else [path]
    for entry in entries:
        info = entry.lstat()
        if stat.S_ISLNK(info.st_mode) or info.st_uid != uid:
            continue
        wanted = DIR_MODE if stat.S_ISDIR(info.st_mode) else FILE_MODE
        if stat.S_IMODE(info.st_mode) != wanted:
            try:
                entry.chmod(wanted)
            except OSError as exc:  # a read-only mount: serving read-only data beats refusing to start
                log.warning("could not make %s private: %s", entry, exc)
                continue
            changed += 1
    return changed
