"""Small helpers shared by the tests."""

import skimage.data

from nst import image


def photograph(size):
  """scikit-image's astronaut photograph (public domain), size x size, RGB 0-255."""
  return image.resize(image.to_rgb(skimage.data.astronaut()), (size, size))


psnr = image.psnr
