"""The normalised VGG19 (normalize.py): the same function up to per-channel scale,
with mean activation 1 per channel on the images it was computed from."""

import json
import os

import numpy as np
import pytest

from helpers import photograph
from nst import image
from nst.engine import normalize
from nst.engine import vgg
from nst.errors import UserError

ALL = [l for l in vgg.LAYER_NAMES if l.startswith(("conv", "relu", "pool"))]


@pytest.fixture(scope="module")
def images():
  return [photograph(48), photograph(64)[::-1]]


@pytest.fixture(scope="module")
def factors(images, vgg_weights):
  return normalize.scale_factors(normalize.activation_means(images, "avg", vgg_weights))


def _features(weights, img, pooling="avg"):
  import tensorflow as tf
  model = vgg.build_feature_model(None, ALL, pooling, weights=weights)
  out = model(vgg.preprocess(tf.constant(img[None], tf.float32)))
  return {l: v.numpy()[0] for l, v in out.items()}


def _layer_factor(factors, layer):
  if layer.startswith("pool"):
    block = layer[len("pool"):]
    last = max(l for l in normalize.RELU_LAYERS if l.startswith(f"relu{block}_"))
    return factors[last]
  return factors["relu" + layer[4:]]


@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_normalised_network_is_the_original_divided_by_the_factors(
    vgg_weights, factors, pooling):
  img = photograph(40)
  original = _features(vgg_weights, img, pooling)
  normalised = _features(normalize.normalize_weights(vgg_weights, factors), img, pooling)
  for layer in ALL:
    expected = original[layer] / _layer_factor(factors, layer)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(normalised[layer], expected, rtol=0,
                               atol=1e-4 * scale, err_msg=layer)


def test_mean_activation_is_one_per_channel_on_the_images(vgg_weights, images, factors):
  means = normalize.activation_means(
      images, "avg", normalize.normalize_weights(vgg_weights, factors))
  # The factors really rescale: they span orders of magnitude across layers.
  spread = [float(np.median(factors[l])) for l in normalize.RELU_LAYERS]
  assert max(spread) / min(spread) > 10
  raw = normalize.activation_means(images, "avg", vgg_weights)
  for layer in normalize.RELU_LAYERS:
    floor = normalize.FLOOR * np.median(raw[layer][raw[layer] > 0])
    alive = raw[layer] >= floor
    assert alive.mean() > 0.3, layer
    # float32: a filter with a tiny mean loses a few digits to rounding.
    np.testing.assert_allclose(means[layer][alive], 1.0, rtol=2e-3, err_msg=layer)
    # Rare filters are divided by the floor, not by their tiny (or zero) mean: their
    # mean becomes theirs / floor < 1, never an amplification beyond 1/FLOOR x median.
    np.testing.assert_allclose(factors[layer][~alive], floor, rtol=1e-5)
    np.testing.assert_allclose(means[layer][~alive], raw[layer][~alive] / floor,
                               rtol=2e-3, atol=1e-6)


def test_factors_are_cached_beside_the_weights_with_the_md5_and_images(
    tmp_path, vgg_weights, weights_path, monkeypatch):
  folder = tmp_path / "images" / "sub"
  folder.mkdir(parents=True)
  image.save_image(str(folder / "a.png"), photograph(32))
  image.save_image(str(folder / "b.jpg"), photograph(32)[::-1])
  local = tmp_path / "vgg" / os.path.basename(weights_path)
  local.parent.mkdir()
  os.symlink(weights_path, local)

  factors, meta = normalize.load_or_compute(str(local), "avg", str(tmp_path / "images"),
                                            vgg_weights, log=lambda m: None)
  cache = meta["cache"]
  assert os.path.dirname(cache) == str(local.parent)
  assert "253f8cb515780f3b799900260a226db6" in os.path.basename(cache)
  assert [os.path.basename(i["path"]) for i in meta["images"]] == ["a.png", "b.jpg"]

  def no_recompute(*args):
    raise AssertionError("recomputed despite the cache")
  monkeypatch.setattr(normalize, "activation_means", no_recompute)
  again, meta_again = normalize.load_or_compute(
      str(local), "avg", str(tmp_path / "images"), vgg_weights)
  assert meta_again["images"] == meta["images"]
  for layer in normalize.RELU_LAYERS:
    np.testing.assert_array_equal(again[layer], factors[layer])
  with np.load(cache) as data:
    assert json.loads(str(data["metadata"]))["weights_md5"] == meta["weights_md5"]


def test_default_images_are_scikit_images_photographs_and_bad_ones_are_errors(
    tmp_path):
  paths = normalize.image_paths(normalize.default_source(None))
  assert [os.path.basename(p) for p in paths] == list(normalize.BUILTIN_PHOTOGRAPHS)
  assert all(os.path.isfile(p) for p in paths)
  with pytest.raises(UserError, match="no .png/.jpg images"):
    normalize.default_source(str(tmp_path))
  with pytest.raises(UserError, match="is not a file"):
    normalize.default_source(str(tmp_path / "missing.jpg"))
