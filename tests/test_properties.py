"""Property-based tests (hypothesis) of the image loader and the settings checks."""

import math

import imageio.v3 as iio
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from nst import config
from nst import image
from nst.errors import UserError

images = st.one_of(
    hnp.arrays(np.uint8, st.tuples(st.integers(1, 12), st.integers(1, 12))),
    hnp.arrays(np.uint8, st.tuples(st.integers(1, 12), st.integers(1, 12),
                                   st.sampled_from([3, 4]))),
    hnp.arrays(np.uint16, st.tuples(st.integers(1, 12), st.integers(1, 12))),
)


@settings(max_examples=60, deadline=None)
@given(array=images)
def test_any_png_loads_as_rgb_0_255(tmp_path_factory, array):
  path = str(tmp_path_factory.mktemp("png") / "x.png")
  iio.imwrite(path, array)
  loaded = image.load_image(path)
  assert loaded.dtype == np.float32 and loaded.shape == array.shape[:2] + (3,)
  assert loaded.min() >= 0 and loaded.max() <= 255
  if array.dtype == np.uint8:
    expected = array[..., :3] if array.ndim == 3 else array[..., None]
    np.testing.assert_array_equal(loaded, np.broadcast_to(expected, loaded.shape))


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=200))
def test_arbitrary_bytes_never_crash_the_loader(tmp_path_factory, data):
  path = str(tmp_path_factory.mktemp("bytes") / "x.jpg")
  with open(path, "wb") as f:
    f.write(data)
  try:
    loaded = image.load_image(path, "content_image")
  except UserError as e:
    assert "--content_image" in str(e) and "\n" not in str(e)
  else:  # some tiny byte strings are valid images of some format
    assert loaded.ndim == 3 and loaded.shape[-1] == 3


numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                    st.integers(-5, 5).map(float))


@settings(max_examples=200, deadline=None)
@given(alpha=numbers, beta=numbers,
       weights=st.lists(numbers, min_size=0, max_size=7))
def test_settings_are_accepted_exactly_when_valid(alpha, beta, weights):
  candidate = config.Settings(alpha=alpha, beta=beta,
                              style_layer_weights=tuple(weights) or None)
  ok_number = lambda v: math.isfinite(v) and v >= 0
  valid = (ok_number(alpha) and ok_number(beta) and (alpha > 0 or beta > 0)
           and (not weights or (len(weights) == 5 and all(map(ok_number, weights)))))
  if valid:
    candidate.validate()
  else:
    with pytest.raises(UserError):
      candidate.validate()


@settings(max_examples=100, deadline=None)
@given(height=st.integers(1, 5000), width=st.integers(1, 5000),
       size=st.integers(0, 4096))
def test_scaled_shape_keeps_aspect_and_longest_side(height, width, size):
  h, w = image.scaled_shape((height, width), size)
  if size == 0:
    assert (h, w) == (height, width)
  else:
    assert max(h, w) == size and h >= 1 and w >= 1
    scale = size / max(height, width)  # each side is the exact scaled side, rounded
    assert abs(h - height * scale) <= 0.5 or h == 1
    assert abs(w - width * scale) <= 0.5 or w == 1
