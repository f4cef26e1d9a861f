"""What the benchmarks share: the image pair (scikit-image's Chelsea, CC0, and its
immunohistochemistry micrograph, the CLI's default pair, so nothing is downloaded), the
noise start, and how a time is taken."""

import json
import os
import statistics

import numpy as np
import skimage.data

from nst.engine import evalmode
from nst import image


def pair(size, square=False):
  """(content, style) float RGB 0-255: size x size, or the photograph's aspect with
  `size` as its longest side; the style rescaled to the content's shape."""
  photo = image.to_rgb(skimage.data.chelsea())
  shape = (size, size) if square else image.scaled_shape(photo.shape, size)
  return (image.resize(photo, shape),
          image.resize(image.to_rgb(skimage.data.immunohistochemistry()), shape))


def noise(shape, seed=0):
  """The default start: uniform noise in 0-255 (as optimize.initial_image('random'))."""
  return np.random.default_rng(seed).uniform(0, 255, shape).astype(np.float32)


def median_seconds(evaluate, repeats):
  """Median wall time of `evaluate()` over `repeats` calls after one untimed warm-up
  (tracing, oneDNN primitive creation and allocator growth happen in the first).
  `evaluate` must wait for its result (e.g. call .numpy())."""
  return statistics.median(evalmode.timed(evaluate, repeats))


def cpu_info():
  """CPU model, cpuinfo family, cores, nominal clock and vector extensions: what every
  reported time is written beside (nst.evalmode's, which keys its decisions by it)."""
  return evalmode.cpu_info()


def describe_cpu(info):
  """One line: model (family, model), vector extensions, cores."""
  vector = [name for name in ("avx512f", "avx512_bf16", "amx_tile", "avx2", "fma")
            if info.get(name)]
  return (f"{info['cpu_model']} (cpuinfo family {info['family']} model "
          f"{info['model']}); {', '.join(vector) or 'no AVX2'}; {info['cores']} cores")


RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def write_results(name, summary, lines, folder=RESULTS):
  """<folder>/<name>.json (everything) and <name>.md (the table), and print the table."""
  os.makedirs(folder, exist_ok=True)
  with open(os.path.join(folder, f"{name}.json"), "w", encoding="utf-8") as f:
    json.dump(summary, f, indent=1)
  with open(os.path.join(folder, f"{name}.md"), "w", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")
  print("\n".join(lines))
