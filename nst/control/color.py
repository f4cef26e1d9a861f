"""Colour control (Gatys, Ecker, Bethge, Hertzmann, Shechtman, "Controlling Perceptual
Factors in Neural Style Transfer", CVPR 2017, section 5): keep the photograph's colours.

- "luminance": the transfer runs on luminance images only (the artwork's luminance
  first matched to the photograph's mean and standard deviation); the result's
  luminance is then recombined with the photograph's I and Q channels (YIQ).
- "histogram": the artwork's colours are matched to the photograph's before the
  transfer by an affine map p' = A p + b of its RGB pixels, with A Sigma_S A^T =
  Sigma_C and b = mu_C - A mu_S; A from symmetric square roots (as in Image Analogies
  and the authors' notebooks) or from Cholesky factors.

The same map the other way round gives --init=content_recolored: the photograph in
the artworks' colours, a start the style loss need not recolour.

Pure numpy on float RGB 0-255 arrays [H, W, 3]; nothing here clips (the run path
does) but `recolored`, which is a start image.
"""

import numpy as np

from nst import config

COLOR_CONTROLS = config.COLOR_CONTROLS
HISTOGRAM_MATCHES = config.HISTOGRAM_MATCHES

# NTSC RGB -> YIQ (Y is ITU-R BT.601's luma). The inverse is computed, not rounded, so
# RGB -> YIQ -> RGB is the identity to float precision and a change of Y alone changes
# R, G and B by the same amount (the I and Q rows sum to 0, the Y row to 1).
RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114],
                       [0.595716, -0.274453, -0.321263],
                       [0.211456, -0.522591, 0.311135]])
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ)


def rgb_to_yiq(image):
  return np.asarray(image, np.float64) @ RGB_TO_YIQ.T


def yiq_to_rgb(image):
  return np.asarray(image, np.float64) @ YIQ_TO_RGB.T


def luminance(image):
  """Y of an RGB image, [H, W]."""
  return rgb_to_yiq(image)[..., 0]


def as_gray_rgb(y):
  """A luminance image [H, W] as an RGB image whose three channels are Y."""
  return np.repeat(np.asarray(y, np.float32)[..., None], 3, axis=-1)


def match_luminance(style_y, content_y):
  """The artwork's luminance with the photograph's mean and standard deviation."""
  scale = content_y.std() / max(style_y.std(), 1e-12)
  return (style_y - style_y.mean()) * scale + content_y.mean()


def recombine(result, photograph):
  """The result's luminance with the photograph's I and Q, as RGB (not clipped)."""
  yiq = rgb_to_yiq(photograph)
  yiq[..., 0] = luminance(result)
  return yiq_to_rgb(yiq).astype(np.float32)


def _sqrt_psd(matrix, inverse=False):
  values, vectors = np.linalg.eigh(matrix)
  values = np.maximum(values, 1e-12)
  power = -0.5 if inverse else 0.5
  return (vectors * values ** power) @ vectors.T


def pixel_stats(images, weights=None):
  """The mean [3] and covariance [3, 3] of the RGB pixels of `images` taken as one
  mixture, image i with weight weights[i] (equal if None; normalised to sum to 1)."""
  weights = np.ones(len(images)) if weights is None else np.asarray(weights, np.float64)
  weights = weights / weights.sum()
  mean, second = np.zeros(3), np.zeros((3, 3))
  for w, image in zip(weights, images):
    p = np.asarray(image, np.float64).reshape(-1, 3)
    mu = p.mean(axis=0)
    mean += w * mu
    second += w * (np.cov(p, rowvar=False, bias=True) + np.outer(mu, mu))
  return mean, second - np.outer(mean, mean)


def match_stats(image, mean, cov, method="image_analogies"):
  """`image`'s pixels mapped affinely, p' = A p + b, to a mean and covariance."""
  p = np.asarray(image, np.float64).reshape(-1, 3)
  mu_s, cov_s = pixel_stats([image])
  # A tiny ridge keeps a flat (rank-deficient) image's covariance invertible.
  ridge = 1e-8 * np.eye(3)
  cov_s, cov = cov_s + ridge, np.asarray(cov, np.float64) + ridge
  if method == "image_analogies":
    a = _sqrt_psd(cov) @ _sqrt_psd(cov_s, inverse=True)
  elif method == "cholesky":
    a = np.linalg.cholesky(cov) @ np.linalg.inv(np.linalg.cholesky(cov_s))
  else:
    raise ValueError(f"unknown histogram match {method!r}")
  b = np.asarray(mean, np.float64) - a @ mu_s
  return ((p @ a.T) + b).reshape(np.shape(image)).astype(np.float32)


def histogram_match(style, content, method="image_analogies"):
  """The artwork's pixels mapped affinely to the photograph's mean and covariance."""
  return match_stats(style, *pixel_stats([content]), method)


def recolored(content, styles, weights=None, method="image_analogies"):
  """The photograph in the artworks' palette (--init=content_recolored): its pixels
  mapped affinely to the mean and covariance of the artworks' pixels (one mixture,
  by blend weight), clipped to 0-255. The reverse of --color_control=histogram: the
  colours are the artworks', the layout and shading the photograph's (with the
  symmetric square roots A is positive definite: no difference between two pixels is
  turned against itself)."""
  return np.clip(match_stats(content, *pixel_stats(styles, weights), method), 0, 255)
