"""Atomic output folders: every generator (HLS project, RTL design, overlay) writes through here.

A temporary folder beside the target is filled (and optionally worked in), then renamed onto
the target in one step, so a reader never finds a half-written folder presented as done.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Dict, Optional, Type, Union

Files = Dict[str, Union[str, bytes]]


def write_tree(files: Files, out_dir, *, marker: Optional[str] = None, what: str = "bnnfpga output",
               error: Type[Exception] = ValueError, work: Optional[Callable[[Path], None]] = None,
               executables=()) -> Path:
    """Write ``files`` ({relative path: text or bytes}) into ``out_dir`` atomically.

    With ``marker`` (a file name the generator writes), an existing non-empty ``out_dir`` is
    replaced only when it holds that marker (it is an earlier output of the same kind); without
    it, any existing folder is replaced.  ``work(tmp)`` runs in the filled folder before the swap;
    if it raises, the folder is kept as ``<out_dir>.failed`` (for its logs) and ``out_dir`` is
    left as it was.  ``executables``: relative paths made executable."""
    out = Path(out_dir)
    if out.exists():
        if not out.is_dir():
            raise error(f"{out}: exists and is not a folder")
        if marker is not None and any(out.iterdir()) and not (out / marker).exists():
            raise error(f"{out}: folder exists and is not a {what}; refusing to overwrite it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=str(out.parent)))
    old = None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        for rel, data in files.items():
            p = tmp / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(data, bytes):
                p.write_bytes(data)
            else:
                p.write_text(data, encoding="utf-8", newline="\n")
        for rel in executables:
            if (tmp / rel).exists():
                os.chmod(tmp / rel, 0o755 & ~umask)
        if work is not None:
            try:
                work(tmp)
            except BaseException:
                failed = out.with_name(out.name + ".failed")
                shutil.rmtree(failed, ignore_errors=True)
                os.rename(tmp, failed)
                raise
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=str(out.parent)))
            os.rmdir(old)
            os.rename(out, old)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and old.exists() and not out.exists():
            os.rename(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return out
