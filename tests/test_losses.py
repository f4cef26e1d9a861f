"""The paper's losses against numpy and hand computation."""

import numpy as np
import pytest
import tensorflow as tf

from nst.engine import losses


def np_gram(f):
  b, h, w, n = f.shape
  flat = f.reshape(b, h * w, n)
  return np.einsum("bmi,bmj->bij", flat, flat)


def test_gram_matches_numpy():
  f = np.random.default_rng(0).normal(size=(2, 3, 4, 5)).astype(np.float32)
  np.testing.assert_allclose(losses.gram(tf.constant(f)), np_gram(f), rtol=1e-5)


def test_gram_by_hand():
  # Two positions (M=2), two maps (N=2): F = [[1, 2], [3, 4]], G = F^T F.
  f = tf.constant([[[[1.0, 2.0], [3.0, 4.0]]]])
  np.testing.assert_array_equal(losses.gram(f), [[[10.0, 14.0], [14.0, 20.0]]])


def test_content_loss_has_the_one_half_factor():
  # 2 positions x 1 map, each differing by 3: 1/2 * (9 + 9) = 9.
  f = tf.fill([1, 1, 2, 1], 4.0)
  p = tf.fill([1, 1, 2, 1], 1.0)
  np.testing.assert_allclose(losses.content_layer_loss(f, p), [9.0])


def test_style_loss_by_hand():
  # G = [[10, 14], [14, 20]] against A = 0: sum G^2 = 892, N = M = 2,
  # so E = 892 / (4 * 2^2 * 2^2) = 13.9375.
  f = tf.constant([[[[1.0, 2.0], [3.0, 4.0]]]])
  np.testing.assert_allclose(losses.style_layer_loss(f, tf.zeros([1, 2, 2])), [13.9375])


def test_style_loss_matches_numpy_with_n_and_m_factors():
  rng = np.random.default_rng(1)
  f = rng.uniform(0, 3, size=(2, 3, 5, 7)).astype(np.float32)
  a = np_gram(rng.uniform(0, 3, size=(1, 3, 5, 7)).astype(np.float32))
  n, m = 7, 15
  want = ((np_gram(f) - a) ** 2).sum(axis=(1, 2)) / (4 * n ** 2 * m ** 2)
  np.testing.assert_allclose(losses.style_layer_loss(tf.constant(f), a), want,
                             rtol=1e-5)


def test_total_loss_weights_layers_and_alpha_beta():
  rng = np.random.default_rng(2)
  shapes = {"relu1_1": (4, 4, 3), "relu2_1": (2, 2, 5), "relu4_2": (1, 1, 6)}
  feats = {l: rng.normal(size=(1,) + s).astype(np.float32) for l, s in shapes.items()}
  other = {l: rng.normal(size=(1,) + s).astype(np.float32) for l, s in shapes.items()}
  content_targets = {"relu4_2": other["relu4_2"]}
  style_targets = {l: np_gram(other[l]) for l in ("relu1_1", "relu2_1")}
  cw = {"relu4_2": 1.0}
  sw = {"relu1_1": 0.3, "relu2_1": 0.7}
  alpha, beta = 1e-3, 2.0
  out = losses.total_loss({l: tf.constant(v) for l, v in feats.items()},
                          content_targets, style_targets, cw, sw, alpha, beta)

  want_content = 0.5 * ((feats["relu4_2"] - other["relu4_2"]) ** 2).sum()
  want_style_layers = {}
  for l in sw:
    _, h, w, n = feats[l].shape
    want_style_layers[l] = (((np_gram(feats[l]) - style_targets[l]) ** 2).sum()
                            / (4 * n ** 2 * (h * w) ** 2))
  want_style = sum(sw[l] * want_style_layers[l] for l in sw)
  np.testing.assert_allclose(out["content_layers"]["relu4_2"], [want_content], rtol=1e-5)
  for l in sw:
    np.testing.assert_allclose(out["style_layers"][l], [want_style_layers[l]], rtol=1e-5)
  np.testing.assert_allclose(out["content"], [want_content], rtol=1e-5)
  np.testing.assert_allclose(out["style"], [want_style], rtol=1e-5)
  np.testing.assert_allclose(out["total"], [alpha * want_content + beta * want_style],
                             rtol=1e-5)


def test_batch_members_are_independent():
  rng = np.random.default_rng(3)
  f = rng.normal(size=(3, 4, 4, 2)).astype(np.float32)
  a = np_gram(rng.normal(size=(1, 4, 4, 2)).astype(np.float32))
  batched = losses.style_layer_loss(tf.constant(f), a).numpy()
  singles = [losses.style_layer_loss(tf.constant(f[i:i + 1]), a).numpy()[0]
             for i in range(3)]
  np.testing.assert_allclose(batched, singles, rtol=1e-6)


def test_unused_part_contributes_zero():
  f = {"relu1_1": tf.ones([1, 2, 2, 3])}
  out = losses.total_loss(f, {}, {"relu1_1": tf.zeros([1, 3, 3])}, {},
                          {"relu1_1": 1.0}, alpha=1.0, beta=1.0)
  assert float(out["content"]) == 0.0
  # G = 4 * ones(3, 3): sum G^2 = 144, N = 3, M = 4 -> 144 / (4 * 9 * 16) = 0.25.
  np.testing.assert_allclose(out["total"], [0.25])
  assert out["total"].shape == (1,)


@pytest.mark.parametrize("scale", [2.0, 10.0])
def test_style_loss_scales_with_fourth_power_of_activations(scale):
  # Why alpha/beta depends on the network's activation scale (see README).
  f = tf.random.stateless_uniform([1, 3, 3, 4], seed=[1, 2])
  a = losses.gram(tf.random.stateless_uniform([1, 3, 3, 4], seed=[3, 4]))
  base = losses.style_layer_loss(f, a)
  scaled = losses.style_layer_loss(f * scale, a * scale ** 2)
  np.testing.assert_allclose(scaled, base * scale ** 4, rtol=1e-4)


def test_authors_convention_by_hand():
  # Content: differences of 3 at 2 positions x 1 map: mean(9, 9) = 9 (paper: 9 too,
  # 1/2 * 18). Style: G = [[10, 14], [14, 20]], A = 0, M = N = 2:
  # mean((G/2)^2) = (25 + 49 + 49 + 100) / 4 = 55.75 = 4 * 13.9375.
  f = tf.fill([1, 1, 2, 1], 4.0)
  p = tf.fill([1, 1, 2, 1], 1.0)
  np.testing.assert_allclose(losses.content_layer_loss(f, p, "authors"), [9.0])
  g = tf.constant([[[[1.0, 2.0], [3.0, 4.0]]]])
  np.testing.assert_allclose(losses.style_layer_loss(g, tf.zeros([1, 2, 2]), "authors"),
                             [55.75])


@pytest.mark.parametrize("shape", [(1, 3, 5, 7), (2, 8, 8, 64), (1, 1, 1, 512)])
def test_conventions_differ_by_the_documented_factors(shape):
  rng = np.random.default_rng(sum(shape))
  f = tf.constant(rng.uniform(0, 4, size=shape).astype(np.float32))
  p = tf.constant(rng.uniform(0, 4, size=shape).astype(np.float32))
  a = losses.gram(tf.constant(rng.uniform(0, 4, size=(1,) + shape[1:])
                              .astype(np.float32)))
  content_factor, style_factor = losses.authors_over_paper(shape[1] * shape[2],
                                                           shape[3])
  np.testing.assert_allclose(losses.content_layer_loss(f, p, "authors"),
                             content_factor * losses.content_layer_loss(f, p, "paper"),
                             rtol=1e-5)
  np.testing.assert_allclose(losses.style_layer_loss(f, a, "authors"),
                             style_factor * losses.style_layer_loss(f, a, "paper"),
                             rtol=1e-5)
  # Hence alpha/beta under "authors" equals alpha/beta * content/style factor ratio
  # under "paper": the totals agree after converting alpha.
  alpha, beta = 1e-3, 1.0
  feats = {"relu4_2": f, "relu1_1": f}
  kwargs = dict(content_targets={"relu4_2": p}, style_targets={"relu1_1": a},
                content_weights={"relu4_2": 1.0}, style_weights={"relu1_1": 1.0})
  authors = losses.total_loss(feats, alpha=alpha, beta=beta, convention="authors",
                              **kwargs)["total"]
  paper = losses.total_loss(feats, alpha=alpha * content_factor / style_factor,
                            beta=beta, convention="paper", **kwargs)["total"]
  np.testing.assert_allclose(authors, style_factor * paper, rtol=1e-5)


def test_total_variation_by_hand():
  # 2x3 image, one channel: vertical differences 3, 3, 3; horizontal 1, 1, 1, 1.
  x = np.array([[[0.0], [1.0], [2.0]], [[3.0], [4.0], [5.0]]], np.float32)[None]
  expected = (3 * 3 ** 2 + 4 * 1 ** 2) / (2 * 3 * 1)
  assert float(losses.total_variation(tf.constant(x))[0]) == pytest.approx(expected)


def test_total_variation_matches_numpy_and_is_a_mean():
  rng = np.random.default_rng(3)
  x = rng.uniform(0, 255, (2, 9, 7, 3)).astype(np.float32)
  expected = (np.sum(np.diff(x, axis=1) ** 2, axis=(1, 2, 3))
              + np.sum(np.diff(x, axis=2) ** 2, axis=(1, 2, 3))) / (9 * 7 * 3)
  np.testing.assert_allclose(losses.total_variation(tf.constant(x)).numpy(), expected,
                             rtol=1e-5)
  # A constant image has none; the same pattern tiled 2x2 has (almost) the same mean.
  assert float(losses.total_variation(tf.ones((1, 5, 5, 3)))[0]) == 0
  tiled = np.tile(x[:1], (1, 2, 2, 1))
  assert float(losses.total_variation(tf.constant(tiled))[0]) == pytest.approx(
      expected[0], rel=0.25)


def test_tv_weight_adds_its_term_to_the_total():
  rng = np.random.default_rng(4)
  features = {"relu1_1": tf.constant(rng.normal(size=(1, 4, 4, 3)), tf.float32)}
  images = tf.constant(rng.uniform(0, 255, (1, 8, 8, 3)), tf.float32)
  args = (features, {"relu1_1": features["relu1_1"] * 0.5}, {}, {"relu1_1": 1.0}, {},
          2.0, 1.0)
  without = losses.total_loss(*args, images=images)
  with_tv = losses.total_loss(*args, images=images, tv_weight=0.1)
  tv = float(losses.total_variation(images)[0])
  assert float(without["tv"][0]) == 0
  assert float(with_tv["tv"][0]) == pytest.approx(tv)
  assert float(with_tv["total"][0]) == pytest.approx(float(without["total"][0])
                                                     + 0.1 * tv, rel=1e-6)
