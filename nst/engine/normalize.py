"""Gatys's normalised VGG19: each conv filter rescaled to mean activation 1.

The paper's network is "normalised by scaling the weights such that the mean
activation of each convolutional filter over images and positions is equal to one".
With s_l the mean of relu_l per channel, conv_l's kernel and bias are divided by
s_l[out] and conv_{l+1}'s kernel multiplied by s_l[in]. ReLU and both poolings commute
with a positive per-channel scale, so every conv/relu/pool layer of the normalised
network equals the original's divided by its channels' factors: the same function up
to scale, which changes only how alpha/beta trade content against style.

ImageNet is not at hand, so the means are taken over natural photographs (each
resized to NORMALIZE_IMAGE_SIZE px on its longest side, each image weighted equally),
with the pooling of the run, and cached beside the weights. By default those are the
six photographs scikit-image installs with itself (BUILTIN_PHOTOGRAPHS), so the
normalised network works offline on any install; --normalize_images points elsewhere.
"""

import hashlib
import json
import os

import numpy as np

from nst import image as image_lib
from nst import phases
from nst.engine import vgg
from nst.engine import weights as weights_lib
from nst.errors import UserError, flag
from nst.files import atomic_path

NORMALIZE_IMAGE_SIZE = 256
FLOOR = 0.1  # smallest factor, as a fraction of the layer's median (scale_factors)
# scikit-image's bundled natural photographs (the others are drawings, text,
# micrographs and test patterns): public domain or CC0, see skimage/data/README.txt.
BUILTIN_PHOTOGRAPHS = ("astronaut.png", "camera.png", "chelsea.png", "coffee.png",
                       "motorcycle_left.png", "rocket.jpg")
RELU_LAYERS = tuple(l for l in vgg.LAYER_NAMES if l.startswith("relu"))


def image_paths(source):
  """The image files in a folder and its subfolders (sorted), or a comma-separated
  list of files."""
  if os.path.isdir(source):
    paths = sorted(os.path.join(root, n) for root, _, names in os.walk(source)
                   for n in names if n.lower().endswith(image_lib.EXTENSIONS))
  else:
    paths = [p for p in source.split(",") if p]
  if not paths:
    raise UserError(f"{flag('normalize_images')}: no .png/.jpg images in {source!r}; "
                    "point it at a folder of natural photographs",
                    option="normalize_images")
  for p in paths:
    if not os.path.isfile(p):
      raise UserError(f"{flag('normalize_images')}: {p!r} is not a file",
                      option="normalize_images")
  return paths


def activation_means(images, pooling, conv_weights):
  """{relu_l: mean activation per channel} over `images` (float RGB 0-255 arrays of
  any sizes), averaging each image's spatial mean with equal weight per image."""
  import tensorflow as tf
  model = vgg.build_feature_model(None, RELU_LAYERS, pooling, weights=conv_weights)
  sums = {l: 0.0 for l in RELU_LAYERS}
  for img in images:
    features = model(vgg.preprocess(tf.constant(img[None], tf.float32)), training=False)
    for l in RELU_LAYERS:
      sums[l] = sums[l] + tf.reduce_mean(features[l], axis=(0, 1, 2)).numpy()
  return {l: (s / len(images)).astype(np.float64) for l, s in sums.items()}


def scale_factors(means):
  """The factors s_l: the mean activations, floored at FLOOR x the layer's median.

  The floor is for filters that (almost) never fire on the images at hand: with six
  photographs a rare filter's mean is a poor estimate of its ImageNet mean (one relu2_1
  filter has 4e-6 on scikit-image's photographs, against a median of 106), and
  dividing by it would amplify that filter 1e5-fold on any image where it does fire,
  so that its Gram entries alone would make up the style loss. Filters that never
  fire (mean 0) get the floor too. The median is over the filters that fire."""
  factors = {}
  for l, m in means.items():
    floor = FLOOR * float(np.median(m[m > 0])) if np.any(m > 0) else 1.0
    factors[l] = np.maximum(m, floor).astype(np.float32)
  return factors


def normalize_weights(conv_weights, factors):
  """conv weights {conv_l: (kernel HWIO, bias)} rescaled by `factors` {relu_l: s_l}."""
  out, previous = {}, None
  for layer in vgg.LAYER_NAMES:
    if not layer.startswith("conv"):
      continue
    kernel, bias = conv_weights[layer]
    s_out = factors["relu" + layer[len("conv"):]]
    kernel = kernel / s_out
    if previous is not None:
      kernel = kernel * previous[:, None]
    out[layer] = (kernel.astype(np.float32), (bias / s_out).astype(np.float32))
    previous = s_out
  return out


def cache_path(weights_path, weights_md5, pooling, image_md5):
  """Where the factors for these weights, pooling and images are cached: beside the
  weights, named by the weights' md5 and a digest of the images' contents."""
  digest = hashlib.md5()
  for m in image_md5:
    digest.update(m.encode())
  digest.update(f"{pooling}:{NORMALIZE_IMAGE_SIZE}:floor{FLOOR}:positive-median"
                .encode())
  name = (f"vgg19_normalization_{weights_md5}_{pooling}_{digest.hexdigest()[:12]}.npz")
  return os.path.join(os.path.dirname(os.path.abspath(weights_path)), name)


def load_or_compute(weights_path, pooling, source, conv_weights=None, log=print):
  """(factors {relu_l: s_l}, metadata) for these weights, pooling and images: read
  from the cache, else computed and cached (atomically)."""
  paths = image_paths(source)
  image_md5 = [weights_lib.md5sum(p) for p in paths]
  weights_md5 = weights_lib.md5sum(weights_path)
  path = cache_path(weights_path, weights_md5, pooling, image_md5)
  if os.path.isfile(path):
    with np.load(path) as data:
      meta = json.loads(str(data["metadata"]))
      return {l: data[l] for l in RELU_LAYERS}, dict(meta, cache=path)
  images = []
  for p in paths:
    img = image_lib.load_image(p, "normalize_images")
    images.append(image_lib.resize(
        img, image_lib.scaled_shape(img.shape, NORMALIZE_IMAGE_SIZE)))
  if conv_weights is None:
    conv_weights = vgg.load_conv_weights(weights_path)
  log(f"computing VGG19 normalisation factors over {len(paths)} images "
      f"({pooling} pooling) ...")
  means = activation_means(images, pooling, conv_weights)
  factors = scale_factors(means)
  meta = {
      "weights_md5": weights_md5, "pooling": pooling,
      "image_size": NORMALIZE_IMAGE_SIZE,
      "images": [{"path": os.path.abspath(p), "md5": m}
                 for p, m in zip(paths, image_md5)],
      "dead_filters": {l: int(np.sum(means[l] <= 0)) for l in RELU_LAYERS},
      "floored_filters": {l: int(np.sum(factors[l] > means[l])) for l in RELU_LAYERS},
      "floor": FLOOR,
  }
  try:
    with atomic_path(path) as tmp:
      with open(tmp, "wb") as f:
        np.savez(f, metadata=json.dumps(meta), **factors)
  except OSError as e:
    log(f"note: could not cache the factors at {path}: {e}")
  return factors, dict(meta, cache=path)


def network_weights(weights_path, settings, source, conv_weights=None, log=print):
  """(conv weights for this run, normalisation metadata or None): the original
  weights, or the normalised ones when settings.normalize_vgg."""
  if conv_weights is None:
    conv_weights = vgg.load_conv_weights(weights_path)
  if not settings.normalize_vgg:
    return conv_weights, None
  phases.enter("normalization")
  factors, meta = load_or_compute(weights_path, settings.pooling, source,
                                  conv_weights, log)
  return normalize_weights(conv_weights, factors), meta


def builtin_source():
  """scikit-image's photographs, as a comma list of their installed paths."""
  return ",".join(image_lib.sample_path(name) for name in BUILTIN_PHOTOGRAPHS)


def default_source(flag_value):
  """--normalize_images, else scikit-image's photographs (builtin_source)."""
  source = flag_value or builtin_source()
  image_paths(source)  # fail now, before any slow work, on a bad folder or file
  return source


def summary(factors):
  """Per-layer rows: layer, channels, geometric mean, min, median, max of s_l."""
  rows = []
  for l in RELU_LAYERS:
    s = np.asarray(factors[l], np.float64)
    rows.append((l, s.size, float(np.exp(np.mean(np.log(s)))), float(s.min()),
                 float(np.median(s)), float(s.max())))
  return rows
