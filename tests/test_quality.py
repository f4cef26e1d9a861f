"""The neutral quality judge (benchmarks/quality.py): its scores against hand
computation and against what they are defined to mean."""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "benchmarks"))
import quality  # pylint: disable=g-import-not-at-top,wrong-import-position

from helpers import photograph  # pylint: disable=g-import-not-at-top,wrong-import-position


def test_gram_over_m_is_the_gram_matrix_divided_by_the_positions():
  f = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4)
  flat = f.reshape(6, 4)
  expected = np.array([[sum(flat[m, i] * flat[m, j] for m in range(6)) / 6
                        for j in range(4)] for i in range(4)])
  np.testing.assert_allclose(quality.gram_over_m(f), expected)


def test_blur_keeps_a_constant_and_the_mean_and_spreads_a_point():
  np.testing.assert_allclose(quality.gaussian_blur(np.full((20, 30), 7.0), 2.0), 7.0)
  point = np.zeros((41, 41))
  point[20, 20] = 1.0
  blurred = quality.gaussian_blur(point, 3.0)
  assert blurred.sum() == pytest.approx(1.0, abs=1e-9)
  assert blurred[20, 20] == blurred.max()
  # Separable Gaussian of sigma 3: the value one sigma away is exp(-1/2) of the peak.
  assert blurred[20, 23] / blurred[20, 20] == pytest.approx(np.exp(-0.5), rel=0.02)


def test_structure_is_a_correlation_of_blurred_luminances():
  photo = photograph(64)
  assert quality.structure(photo, photo) == pytest.approx(1.0)
  assert quality.structure(255.0 - photo, photo) == pytest.approx(-1.0)
  # An affine change of brightness and contrast leaves the layout as it was.
  assert quality.structure(0.5 * photo + 40.0, photo) == pytest.approx(1.0)
  # Fine noise is blurred away: the layout still reads as the photograph's.
  noisy = photo + np.random.default_rng(0).normal(0, 30, photo.shape)
  assert quality.structure(noisy, photo) > 0.95
  flat = np.full_like(photo, 128.0)
  assert quality.structure(flat, photo) == pytest.approx(0.0, abs=1e-9)


def test_style_is_one_for_the_photograph_zero_for_the_artwork(weights_path):
  photo = photograph(64)
  artwork = np.random.default_rng(1).uniform(0, 255, (80, 48, 3)).astype(np.float32)
  own = quality.judge(photo, photo, artwork, weights_path)
  assert own["structure"] == pytest.approx(1.0)
  assert own["style"] == pytest.approx(1.0)
  assert own["content"] == 0.0
  # The artwork resized to the result's size has exactly the target statistics.
  art_at_size = quality.image_lib.resize(artwork, photo.shape[:2])
  theirs = quality.judge(art_at_size, photo, artwork, weights_path)
  assert theirs["style"] == pytest.approx(0.0, abs=1e-12)
  assert theirs["content"] > 0.5
  # Halfway between them in pixels is between them in style.
  half = quality.judge(0.5 * (photo + art_at_size), photo, artwork, weights_path)
  assert 0.0 < half["style"] < 1.0


def test_style_matches_a_numpy_computation_of_its_definition(weights_path):
  result = photograph(48)[:, ::-1]
  photo, artwork = photograph(48), photograph(48)[::-1]
  f = {name: quality.features(x, weights_path)
       for name, x in (("r", result), ("p", photo), ("a", artwork))}

  def distance(x):
    total = 0.0
    for layer in quality.STYLE_LAYERS:
      flat_x = f[x][layer].reshape(-1, f[x][layer].shape[-1])
      flat_a = f["a"][layer].reshape(-1, f["a"][layer].shape[-1])
      g = flat_x.T @ flat_x / len(flat_x) - flat_a.T @ flat_a / len(flat_a)
      total += float(np.mean(g ** 2))
    return total

  scores = quality.judge(result, photo, artwork, weights_path)
  assert scores["style"] == pytest.approx(distance("r") / distance("p"), rel=1e-9)
  p = f["p"]["relu4_2"]
  assert scores["content"] == pytest.approx(
      float(np.mean((f["r"]["relu4_2"] - p) ** 2) / np.mean(p ** 2)), rel=1e-9)
