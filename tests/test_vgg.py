"""The VGG19 feature model: paper names, shapes, truncation, equality with Keras."""

import numpy as np
import pytest
import tensorflow as tf

from nst.engine import vgg


def random_weights(seed=0):
  rng = np.random.default_rng(seed)
  weights, channels_in = {}, 3
  for layer in vgg.LAYER_NAMES:
    if layer.startswith("conv"):
      out = vgg.channels(layer)
      weights[layer] = (rng.normal(0, np.sqrt(2 / (9 * channels_in)),
                                   (3, 3, channels_in, out)).astype(np.float32),
                        rng.normal(0, 0.1, out).astype(np.float32))
      channels_in = out
  return weights


def test_layer_names_follow_the_paper():
  names = vgg.LAYER_NAMES
  assert len(names) == 16 + 16 + 5
  assert names[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
  assert names[-3:] == ("conv5_4", "relu5_4", "pool5")
  assert [n for n in names if n.startswith("pool")] == [f"pool{i}" for i in range(1, 6)]
  assert sum(n.startswith("relu3_") for n in names) == 4
  assert vgg.channels("relu4_2") == 512 and vgg.channels("pool2") == 128
  assert vgg.min_image_side(["relu1_1"]) == 1
  assert vgg.min_image_side(["relu1_1", "relu5_1"]) == 16
  assert vgg.min_image_side(["pool5"]) == 32


def test_shapes_and_truncation():
  model = vgg.build_feature_model(None, ["relu1_1", "pool1", "conv3_1", "relu5_1"],
                                  weights=random_weights())
  out = model(tf.zeros([2, 64, 48, 3]))
  assert set(out) == {"relu1_1", "pool1", "conv3_1", "relu5_1"}
  assert out["relu1_1"].shape == (2, 64, 48, 64)
  assert out["pool1"].shape == (2, 32, 24, 64)
  assert out["conv3_1"].shape == (2, 16, 12, 256)
  assert out["relu5_1"].shape == (2, 4, 3, 512)
  # Nothing past the deepest requested layer is built.
  assert model.layers[-1].name == "relu5_1"
  shallow = vgg.build_feature_model(None, ["relu2_1"], weights=random_weights())
  assert shallow.layers[-1].name == "relu2_1"
  assert "conv2_2" not in [layer.name for layer in shallow.layers]


def test_conv_is_linear_and_relu_separate():
  model = vgg.build_feature_model(None, ["conv1_1", "relu1_1"],
                                  weights=random_weights())
  out = model(tf.random.stateless_normal([1, 8, 8, 3], seed=[0, 1]) * 50)
  assert np.min(out["conv1_1"]) < 0
  np.testing.assert_array_equal(out["relu1_1"], np.maximum(out["conv1_1"], 0))


def test_average_and_max_pooling():
  x = tf.random.stateless_normal([1, 8, 8, 3], seed=[2, 3]) * 50
  w = random_weights()
  avg = vgg.build_feature_model(None, ["relu1_2", "pool1"], "avg", weights=w)(x)
  mx = vgg.build_feature_model(None, ["relu1_2", "pool1"], "max", weights=w)(x)
  r = avg["relu1_2"].numpy().reshape(1, 4, 2, 4, 2, 64)
  np.testing.assert_allclose(avg["pool1"], r.mean(axis=(2, 4)), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(mx["pool1"], r.max(axis=(2, 4)), rtol=1e-6)


def test_preprocess_is_caffe_convention_and_invertible():
  rgb = tf.constant([[[[10.0, 20.0, 30.0]]]])
  bgr = vgg.preprocess(rgb)
  np.testing.assert_allclose(bgr, [[[[30 - 103.939, 20 - 116.779, 10 - 123.68]]]],
                             rtol=1e-6)
  np.testing.assert_allclose(vgg.deprocess(bgr), rgb, rtol=1e-6)


def test_unknown_layer_lists_valid_names():
  from nst.errors import UserError  # pylint: disable=g-import-not-at-top
  with pytest.raises(UserError, match="relu6_1.*conv1_1, relu1_1"):
    vgg.check_layers(["relu6_1"], "style_layers")


def test_relu_outputs_equal_keras_vgg19_with_max_pooling(weights_path, vgg_weights):
  import keras  # pylint: disable=g-import-not-at-top
  from helpers import photograph  # pylint: disable=g-import-not-at-top
  relus = [n for n in vgg.LAYER_NAMES if n.startswith("relu")]
  ours = vgg.build_feature_model(weights_path, relus, "max", weights=vgg_weights)
  reference = keras.applications.VGG19(include_top=False, weights=str(weights_path),
                                       input_shape=(64, 64, 3))
  theirs = keras.Model(reference.input, {
      relu: reference.get_layer(vgg._keras_layer_name("conv" + relu[4:])).output
      for relu in relus})
  x = vgg.preprocess(tf.constant(photograph(64)[None]))
  a, b = ours(x), theirs(x)
  for relu in relus:
    scale = float(np.max(np.abs(b[relu])))
    assert scale > 0, relu
    err = float(np.max(np.abs(a[relu] - b[relu]))) / scale
    assert err <= 1e-4, f"{relu}: relative error {err:.2e}"


def test_bfloat16_network_matches_float32_to_bfloat16_precision(vgg_weights):
  from helpers import photograph  # pylint: disable=g-import-not-at-top
  layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"]
  x = vgg.preprocess(tf.constant(photograph(64)[None], tf.float32))
  f32 = vgg.build_feature_model(None, layers, weights=vgg_weights)(x)
  bf16 = vgg.build_feature_model(None, layers, weights=vgg_weights,
                                 precision="bfloat16")(x)
  for layer in layers:
    assert bf16[layer].dtype == tf.float32
    error = float(tf.norm(bf16[layer] - f32[layer]) / tf.norm(f32[layer]))
    # bfloat16 keeps 8 significant bits (0.4%); errors grow a little with depth.
    assert 1e-4 < error < 0.03, (layer, error)
