"""Image reading, resizing and atomic writing."""

import os

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from nst import image
from nst.errors import UserError


def write(path, array, **kwargs):
  iio.imwrite(path, array, **kwargs)
  return str(path)


def test_grayscale_becomes_rgb(tmp_path):
  gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
  loaded = image.load_image(write(tmp_path / "g.png", gray))
  assert loaded.shape == (3, 4, 3) and loaded.dtype == np.float32
  for c in range(3):
    np.testing.assert_array_equal(loaded[..., c], gray)


def test_alpha_is_dropped(tmp_path):
  rgba = np.zeros((2, 2, 4), np.uint8)
  rgba[..., 0], rgba[..., 3] = 200, 7
  loaded = image.load_image(write(tmp_path / "a.png", rgba))
  assert loaded.shape == (2, 2, 3)
  np.testing.assert_array_equal(loaded[..., 0], 200)


def test_sixteen_bit_png_is_scaled_to_0_255(tmp_path):
  deep = np.array([[0, 65535], [32896, 65535]], np.uint16)
  loaded = image.load_image(write(tmp_path / "d.png", deep))
  np.testing.assert_allclose(loaded[..., 0], [[0, 255], [128, 255]], atol=1e-3)


def test_palette_png_gives_its_colours(tmp_path):
  p = Image.new("P", (2, 1))
  p.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
  p.putpixel((1, 0), 1)
  p.save(tmp_path / "p.png")
  loaded = image.load_image(str(tmp_path / "p.png"))
  np.testing.assert_array_equal(loaded[0], [[255, 0, 0], [0, 0, 255]])


def test_jpeg_round_trip(tmp_path):
  rgb = np.full((8, 8, 3), (200, 100, 50), np.uint8)
  path = image.save_image(str(tmp_path / "x.jpg"), rgb.astype(np.float32))
  assert open(path, "rb").read(2) == b"\xff\xd8"  # JPEG, chosen by extension
  np.testing.assert_allclose(image.load_image(path), rgb, atol=3)


def test_png_written_by_extension_is_exact_and_clipped(tmp_path):
  values = np.array([[[-20.0, 0.4, 254.6], [300.0, 128.0, 7.0]]], np.float32)
  path = image.save_image(str(tmp_path / "x.png"), values)
  assert open(path, "rb").read(4) == b"\x89PNG"
  umask = os.umask(0)
  os.umask(umask)
  assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
  np.testing.assert_array_equal(image.load_image(path), [[[0, 0, 255], [255, 128, 7]]])


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
  path = str(tmp_path / "out.png")
  with open(path, "wb") as f:
    f.write(b"previous result")

  def broken(*args, **kwargs):
    with open(args[0], "wb") as f:
      f.write(b"half")
    raise OSError("disk full")

  monkeypatch.setattr(image.iio, "imwrite", broken)
  with pytest.raises(OSError):
    image.save_image(path, np.zeros((2, 2, 3), np.float32))
  assert open(path, "rb").read() == b"previous result"
  assert os.listdir(tmp_path) == ["out.png"]


def test_scaled_shape_keeps_aspect():
  assert image.scaled_shape((300, 451, 3), 128) == (85, 128)
  assert image.scaled_shape((768, 1024, 3), 512) == (384, 512)
  assert image.scaled_shape((300, 451, 3), 0) == (300, 451)


def test_resize_is_antialiased():
  # A one-pixel checkerboard shrunk 4x must average to grey; point sampling would
  # keep pure black and white.
  board = (np.indices((64, 64)).sum(axis=0) % 2 * 255.0).astype(np.float32)
  small = image.resize(np.stack([board] * 3, axis=-1), (16, 16))
  assert small.shape == (16, 16, 3)
  np.testing.assert_allclose(small[2:-2, 2:-2], 127.5, atol=3)


@pytest.mark.parametrize("content,match", [
    (None, "no such file"),
    (b"", "cannot read"),
    (b"this is text, not a JPEG", "cannot read"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "cannot read"),  # truncated JPEG
])
def test_unreadable_files_name_the_flag_and_file(tmp_path, content, match):
  path = tmp_path / "photo.jpg"
  if content is not None:
    path.write_bytes(content)
  with pytest.raises(UserError) as e:
    image.load_image(str(path), "content_image")
  message = str(e.value)
  assert message.startswith("--content_image: ") and "photo.jpg" in message
  assert match in message and "\n" not in message


def test_directory_is_not_an_image(tmp_path):
  with pytest.raises(UserError, match="is a directory"):
    image.load_image(str(tmp_path), "style_image")


def test_output_path_checks(tmp_path):
  image.check_output_path(str(tmp_path / "new" / "dir" / "out.png"))  # created
  assert (tmp_path / "new" / "dir").is_dir()
  with pytest.raises(UserError, match="must end in one of"):
    image.check_output_path(str(tmp_path / "out.gif"))
  blocker = tmp_path / "file"
  blocker.write_text("x")
  with pytest.raises(UserError, match="cannot write to directory"):
    image.check_output_path(str(blocker / "out.png"))
  (tmp_path / "dir.png").mkdir()
  with pytest.raises(UserError, match="is a directory"):
    image.check_output_path(str(tmp_path / "dir.png"))
