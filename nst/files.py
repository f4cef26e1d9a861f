"""Atomic file writes: a result is either complete on disk or not there at all."""

import contextlib
import glob
import json
import os
import tempfile

from nst.errors import UserError, flag


@contextlib.contextmanager
def atomic_path(path):
  """Yield a temporary path beside `path`; rename it onto `path` only on success.

  The temporary name keeps `path`'s extension so writers that pick a format by
  extension (imageio) still do. On any exception the temporary file is removed and
  `path` is left untouched. A signal's exception (Ctrl-C, SIGTERM) is such an
  exception: an interrupted write leaves the old file or none, never half of one.
  """
  directory, base = os.path.split(os.path.abspath(path))
  extension = os.path.splitext(base)[1]
  fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=f".part{extension}",
                             dir=directory)
  try:  # from here on, whatever interrupts removes the temporary file
    os.close(fd)
    yield tmp
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are ordinary files
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(OSError):
      os.remove(tmp)
    raise


def _umask():
  mask = os.umask(0)
  os.umask(mask)
  return mask


def ensure_writable_dir(directory, option):
  """Create `directory` if needed and prove a file can be written there.

  Checked by writing a probe file rather than with os.access, which answers yes to
  root even on read-only file systems. Raises UserError naming `option`'s flag.
  """
  directory = directory or "."
  try:
    os.makedirs(directory, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=directory, prefix=".nst-probe-"):
      pass
  except OSError as e:
    raise UserError(f"{flag(option)}: cannot write to directory {directory!r} "
                    f"({e.strerror or e}); choose a writable location",
                    option=option) from None


def write_json(path, obj):
  """Write `obj` as indented JSON, atomically."""
  with atomic_path(path) as tmp:
    with open(tmp, "w", encoding="utf-8") as f:
      json.dump(obj, f, indent=2, sort_keys=True)
      f.write("\n")
  return path


def same_file(a, b):
  """Whether paths `a` and `b` name one existing file (symlinks and hard links
  followed: inodes compared), or, if either is missing, one resolved path."""
  try:
    return os.path.samefile(a, b)
  except OSError:
    return os.path.normcase(os.path.realpath(a)) == os.path.normcase(
        os.path.realpath(b))


def remove_stale_parts(path):
  """Remove what a killed atomic write of `path` left: its hidden temporary files
  (atomic_path's names). Returns the paths removed."""
  directory, base = os.path.split(os.path.abspath(path))
  extension = os.path.splitext(base)[1]
  pattern = os.path.join(glob.escape(directory),
                         f".{glob.escape(base)}.*.part{glob.escape(extension)}")
  removed = []
  for stale in glob.glob(pattern):
    with contextlib.suppress(OSError):
      os.remove(stale)
      removed.append(stale)
  return removed
