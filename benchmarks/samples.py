"""The benchmarks' image pair: scikit-image's Chelsea (CC0) and its immunohistochemistry
micrograph, the CLI's default pair, so every benchmark runs without downloads."""

import numpy as np
import skimage.data

from nst import image


def pair(size, square=False):
  """(content, style) float RGB 0-255: size x size, or the photograph's aspect with
  `size` as its longest side; the style rescaled to the content's shape."""
  photo = image.to_rgb(skimage.data.chelsea())
  shape = (size, size) if square else image.scaled_shape(photo.shape, size)
  return (image.resize(photo, shape),
          image.resize(image.to_rgb(skimage.data.immunohistochemistry()), shape))


def noise(shape, seed=0):
  """The default start: uniform noise in 0-255 (as optimize.initial_image('random'))."""
  return np.random.default_rng(seed).uniform(0, 255, shape).astype(np.float32)
