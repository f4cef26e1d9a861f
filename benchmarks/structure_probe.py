"""A probe of the quality judge's structure score (quality.py), not a feature: how far
the score can be pushed up without the photograph coming back.

Adds to the default's loss a term that asks for the photograph's coarse light and dark
layout and nothing else: weight * (1 - Pearson correlation of the blurred luminances
of the image and the photograph), with the judge's own blur (sigma 4 px per 256 px),
i.e. the judge's structure score made a loss. If the structure score read "the
photograph is plain to see", a weight that lifts it to 0.85-0.99 should show the
photograph; the sheet shows whether it does. The term enters through a wrapper of
nst.engine.losses.total_loss (this script's process only; nst has no such option).

  python benchmarks/structure_probe.py --pairs=chelsea-ihc,rocket-scream --size=128 \
      --weights=0,0.01,0.1,1 --output_dir=out/structure_probe
"""

import json
import os
import subprocess
import sys

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

import common
import quality
import quality_compare

import nst
from nst import image as image_lib
from nst import sheet as sheet_lib
from nst.engine import losses as losses_lib

# --pairs, --num_steps, --output_dir and --name are quality_compare's flags.
PAIR_NAMES, NUM_STEPS = quality_compare.PAIR_NAMES, quality_compare.NUM_STEPS
OUTPUT_DIR, NAME = quality_compare.OUTPUT_DIR, quality_compare.NAME
for _name, _default in (("pairs", ["chelsea-ihc", "rocket-scream"]),
                        ("output_dir", "out/structure_probe"),
                        ("name", "structure_probe_128")):
  flags.FLAGS.set_default(_name, _default)
SIZE = flags.DEFINE_integer("size", 128, "Longest side, px.")
WEIGHTS = flags.DEFINE_list("weights", ["0", "0.01", "0.1", "1"], "Weights of the term.")
RUN_ONE = flags.DEFINE_string("run_one", None, "Internal: PAIR,WEIGHT,OUTPUT, one run in "
                              "this process (nst's traced functions are cached per "
                              "settings, so each weight runs in a fresh process).")


def blurred_luminance(images, sigma):
  """The judge's blurred luma (quality.luminance, quality.gaussian_blur with reflected
  borders) of [B, H, W, 3] RGB 0-255 -> [B, H, W, 1], in TensorFlow."""
  luma = (images[..., 0] * 0.299 + images[..., 1] * 0.587 + images[..., 2] * 0.114)
  radius = max(1, int(np.ceil(3 * sigma)))
  x = np.arange(-radius, radius + 1, dtype=np.float32)
  kernel = np.exp(-0.5 * (x / sigma) ** 2)
  kernel /= kernel.sum()
  padded = tf.pad(luma[..., None], [[0, 0], [radius, radius], [radius, radius], [0, 0]],
                  mode="REFLECT")
  rows = tf.nn.conv2d(padded, tf.constant(kernel.reshape(1, -1, 1, 1)), 1, "VALID")
  return tf.nn.conv2d(rows, tf.constant(kernel.reshape(-1, 1, 1, 1)), 1, "VALID")


def decorrelation(images, photograph, sigma):
  """1 - the judge's structure score, per image [B] (standardised blurred lumas: half
  their mean squared difference is 1 - their correlation)."""
  def standardised(y):
    mean, variance = tf.nn.moments(y, axes=[1, 2, 3], keepdims=True)
    return (y - mean) / tf.sqrt(variance + 1e-6)
  a = standardised(blurred_luminance(images, sigma))
  b = standardised(blurred_luminance(photograph, sigma))
  return 0.5 * tf.reduce_mean(tf.square(a - b), axis=[1, 2, 3])


def with_structure_term(photograph, weight):
  """nst.engine.losses.total_loss plus weight * decorrelation with `photograph`."""
  total_loss = losses_lib.total_loss
  sigma = quality.STRUCTURE_SIGMA * max(photograph.shape[:2]) / 256.0

  def wrapped(*args, images=None, **kwargs):
    terms = total_loss(*args, images=images, **kwargs)
    term = decorrelation(tf.cast(images, tf.float32), tf.constant(photograph[None]),
                         sigma)
    return dict(terms, total=terms["total"] + weight * term)
  return wrapped


def run_one(pair, weight, out):
  content, style = (f() for f in quality_compare.PAIRS[pair])
  photo = quality.load(content)
  sized = image_lib.resize(photo, image_lib.scaled_shape(photo.shape, SIZE.value))
  if weight:
    losses_lib.total_loss = with_structure_term(sized.astype(np.float32), weight)
  nst.transfer(content, style, out, image_size=SIZE.value, num_steps=NUM_STEPS.value,
               plot=False)


def main(argv):
  del argv
  if RUN_ONE.value:
    pair, weight, out = RUN_ONE.value.split(",")
    run_one(pair, float(weight), out)
    return
  os.makedirs(OUTPUT_DIR.value, exist_ok=True)
  rows, grid, captions = [], [], []
  for pair in PAIR_NAMES.value:
    content, style = (f() for f in quality_compare.PAIRS[pair])
    photo, art = quality.load(content), quality.load(style)
    shape = image_lib.scaled_shape(photo.shape, SIZE.value)
    cells = [image_lib.resize(photo, shape), image_lib.resize(art, shape)]
    texts = ["photograph", "artwork"]
    for weight in (float(w) for w in WEIGHTS.value):
      out = os.path.join(OUTPUT_DIR.value, f"{pair}_{SIZE.value}_w{weight:g}.png")
      if not os.path.exists(out):
        subprocess.run([sys.executable, os.path.abspath(__file__),
                        f"--size={SIZE.value}", f"--num_steps={NUM_STEPS.value}",
                        f"--run_one={pair},{weight!r},{out}"], check=True)
      result = quality.load(out)
      scores = quality.judge(result, photo, art)
      rows.append(dict(pair=pair, size=SIZE.value, weight=weight, **scores))
      print(json.dumps(rows[-1]), flush=True)
      cells.append(result)
      texts.append(f"w {weight:g}: st {scores['structure']:.2f} sty "
                   f"{scores['style']:.3f}")
    grid.append(cells)
    captions.append(texts)
  sheet = sheet_lib.contact_sheet(
      grid, row_labels=PAIR_NAMES.value, captions=captions,
      title=f"{SIZE.value} px, {NUM_STEPS.value} iterations, the default plus w x "
            "(1 - structure)")
  image_lib.save_image(os.path.join(OUTPUT_DIR.value, f"{NAME.value}.png"),
                       sheet.astype("float32"))
  cpu = common.describe_cpu(common.cpu_info())
  lines = [f"Structure probe, {SIZE.value} px, {NUM_STEPS.value} iterations; {cpu}", "",
           "| pair | weight | structure | style | content |",
           "| --- | ---: | ---: | ---: | ---: |"]
  lines += [f"| {r['pair']} | {r['weight']:g} | {r['structure']:.3f} | "
            f"{r['style']:.4f} | {r['content']:.3f} |" for r in rows]
  common.write_results(NAME.value, {"rows": rows, "num_steps": NUM_STEPS.value,
                                    "cpu": cpu}, lines)


if __name__ == "__main__":
  app.run(main)
