"""Small helpers shared by the tests."""

import numpy as np
import skimage.data

from nst import image


def photograph(size):
  """scikit-image's astronaut photograph (public domain), size x size, RGB 0-255."""
  return image.resize(image.to_rgb(skimage.data.astronaut()), (size, size))


def psnr(a, b):
  mse = np.mean((np.clip(a, 0, 255) - np.clip(b, 0, 255)) ** 2)
  return 10 * np.log10(255.0 ** 2 / mse)
