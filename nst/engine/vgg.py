"""VGG19 with every layer under the paper's name, loaded with the Keras ImageNet weights.

Keras's own VGG19 fuses each ReLU into its convolution, so `conv4_2` (linear) and
`relu4_2` could not both be read from it. This module rebuilds the convolutional part
with separate Conv2D, ReLU and pooling layers named as in the paper and copies the
official weights into it.

TensorFlow is imported inside the functions that need it, so that a command can check
its flags (layer names included) and fail on bad input in a fraction of a second.
"""

import os

from nst.errors import UserError, subject

# Input convention of the Keras/Caffe VGG weights: BGR channel order, mean pixel
# subtracted (in BGR order), values in 0-255.
MEAN_PIXEL_BGR = (103.939, 116.779, 123.68)

# (block, number of convolutions, channels) for VGG19.
_BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 4, 256), (4, 4, 512), (5, 4, 512))

POOLING_CHOICES = ("avg", "max")
# Compute precision -> Keras dtype policy. Weights, outputs and the L-BFGS state stay
# float32; bfloat16 has float32's exponent range, so activations (up to ~1e4) and
# gradients neither overflow nor underflow. float16 would need loss scaling: not offered.
PRECISION_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}


def _layer_names():
  names = []
  for block, convs, _ in _BLOCKS:
    for i in range(1, convs + 1):
      names += [f"conv{block}_{i}", f"relu{block}_{i}"]
    names.append(f"pool{block}")
  return tuple(names)


# All layers in network order: conv1_1, relu1_1, conv1_2, relu1_2, pool1, ... pool5.
LAYER_NAMES = _layer_names()


def _block(layer):
  return int(layer[len("pool"):] if layer.startswith("pool") else layer[4:].split("_")[0])


def channels(layer):
  """Number of feature maps (N_l in the paper) of a layer."""
  return {block: c for block, _, c in _BLOCKS}[_block(layer)]


def downsampling(layer):
  """How many 2x2 poolings lie before `layer` (pool_k itself included)."""
  return _block(layer) if layer.startswith("pool") else _block(layer) - 1


def min_image_side(layers):
  """Smallest image side (px) for which every layer in `layers` is at least 1x1."""
  return 2 ** max(downsampling(layer) for layer in layers)


def check_layers(layers, option=None, label=None):
  """Raise UserError of `option`, naming it (or `label`, for a list that is no
  option), if any name in `layers` is not a VGG19 layer."""
  for layer in layers:
    if layer not in LAYER_NAMES:
      raise UserError(f"unknown layer {layer!r} in {subject(option, label)}; valid "
                      "layers are: " + ", ".join(LAYER_NAMES), option=option)


def preprocess(rgb):
  """Image in RGB 0-255, shape [..., H, W, 3] -> network input (BGR, mean subtracted)."""
  import tensorflow as tf
  return rgb[..., ::-1] - tf.constant(MEAN_PIXEL_BGR, dtype=rgb.dtype)


def deprocess(bgr):
  """Inverse of `preprocess`: network input -> RGB 0-255 (not clipped)."""
  import tensorflow as tf
  return (bgr + tf.constant(MEAN_PIXEL_BGR, dtype=bgr.dtype))[..., ::-1]


def _keras_layer_name(layer):
  """conv3_2 -> block3_conv2, the name in the official Keras weight file."""
  block, index = layer[len("conv"):].split("_")
  return f"block{block}_conv{index}"


def load_conv_weights(weights_path):
  """Read the official Keras VGG19 notop file: {conv1_1: (kernel, bias), ...}."""
  import h5py
  weights = {}
  with h5py.File(weights_path, "r") as f:
    for layer in LAYER_NAMES:
      if not layer.startswith("conv"):
        continue
      group = f[_keras_layer_name(layer)]
      kernel_name, bias_name = [n.decode() if isinstance(n, bytes) else n
                                for n in group.attrs["weight_names"]]
      weights[layer] = (group[kernel_name][()], group[bias_name][()])
  return weights


def build_feature_model(weights_path, layers, pooling="avg", weights=None,
                        precision="float32"):
  """A Keras model from preprocessed images [B, H, W, 3] to {layer: activations}.

  The network is truncated after the deepest layer in `layers`, so a run that asks for
  relu4_2 at most never computes conv4_3 and beyond. `weights` may hold the result of
  `load_conv_weights` to avoid reading the file again; tests may pass random weights.
  With `precision="bfloat16"` the layers compute in bfloat16 and the outputs are cast
  back to float32.
  """
  os.environ.setdefault("KERAS_BACKEND", "tensorflow")
  import keras

  layers = list(dict.fromkeys(layers))
  check_layers(layers, label="layers")
  if pooling not in POOLING_CHOICES:
    raise ValueError(f"pooling must be one of {POOLING_CHOICES}, got {pooling!r}")
  if weights is None:
    weights = load_conv_weights(weights_path)
  deepest = max(LAYER_NAMES.index(layer) for layer in layers)

  policy = PRECISION_POLICIES[precision]
  inputs = keras.Input(shape=(None, None, 3), name="image")
  x = inputs
  outputs = {}
  for name in LAYER_NAMES[:deepest + 1]:
    if name.startswith("conv"):
      kernel, bias = weights[name]
      conv = keras.layers.Conv2D(kernel.shape[-1], 3, padding="same", name=name,
                                 dtype=policy)
      x = conv(x)
      conv.set_weights([kernel, bias])
    elif name.startswith("relu"):
      x = keras.layers.ReLU(name=name, dtype=policy)(x)
    else:
      pool = (keras.layers.AveragePooling2D if pooling == "avg"
              else keras.layers.MaxPooling2D)
      x = pool(pool_size=2, strides=2, name=name, dtype=policy)(x)
    if name in layers:
      outputs[name] = (x if precision == "float32" else
                       keras.layers.Identity(name=f"{name}_float32", dtype="float32")(x))
  model = keras.Model(inputs, outputs, name=f"vgg19_{pooling}")
  model.trainable = False
  return model
