"""Folders that hold keyplane's private files (state, identities, audit log files, AWS profiles).

`os.makedirs(path, mode=0o700)` and `Path.mkdir(mode=0o700, parents=True)` give that mode to the
last folder only; the ones made on the way get the umask's (0755: an audit folder's
AWSLogs/<account>/... named accounts and Regions to anyone). Here every folder made is 0700;
folders that already exist are left as they are.
"""
from __future__ import annotations

import os


def make_private_dirs(folder: str | os.PathLike) -> None:
    """Make `folder` and every missing folder above it, each 0700."""
    missing, parent = [], os.path.abspath(folder)
    while parent and not os.path.isdir(parent):
        missing.append(parent)
        up = os.path.dirname(parent)
        if up == parent:
            break
        parent = up
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:     # another process made it meanwhile
            pass
