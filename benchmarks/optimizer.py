"""Optimiser efficiency: loss reached after a fixed number of value-and-gradient
evaluations, by nst's L-BFGS (line search "unit_first"), scipy's L-BFGS-B (the
optimiser of the original reimplementation and of the authors' code) and, optionally,
tfp's stock `lbfgs_minimize` (Hager-Zhang, "hager_zhang"), all driving the same
compiled TensorFlow value-and-gradient function from the same starts.

  python benchmarks/optimizer.py --size=128 --budgets=100,300,1000 --starts=4 \
      --images_dir=../shared/images

Problems: a relu3_1 content reconstruction from noise and the default style transfer
with scikit-image's sample images (no downloads), and, with --images_dir (or
$NST_IMAGES_DIR), the default style transfer of the Tübingen photograph with The
Starry Night and with The Shipwreck. Each problem is run from --starts uniform-noise
starts (seeds 0, 1, ...): the loss after a few hundred iterations of this non-convex
problem depends chaotically on the start (a change of 0.01 grey level moves
L-BFGS-B's own loss at 1000 evaluations by up to 4x), so one start says little.
Writes <output_dir>/optimizer.md and .json.
"""

import dataclasses
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags
import numpy as np
import scipy
import scipy.optimize
import tensorflow as tf

from nst import config
from nst import image
from nst.engine import optimize
from nst.engine import vgg
from nst.engine import weights
import common

SIZE = flags.DEFINE_integer("size", 128, "Longest image side, px.")
STARTS = flags.DEFINE_integer("starts", 4, "Noise starts (seeds 0..starts-1) per problem.")
IMAGES_DIR = flags.DEFINE_string(
    "images_dir", None, "The reference images (default $NST_IMAGES_DIR); without "
    "them only scikit-image's pair is used.")
OPTIMISER_NAMES = flags.DEFINE_list(
    "optimisers", "ours (unit_first),scipy L-BFGS-B",
    "Which of: ours (unit_first), tfp (hager_zhang), scipy L-BFGS-B.")
BUDGETS = flags.DEFINE_list("budgets", "100,300,1000", "Evaluation budgets.")
OUTPUT_DIR = flags.DEFINE_string("output_dir", "benchmarks/results", "Output folder.")

DEFAULTS = config.Settings()
# (name, settings, artwork in the reference folder or None for scikit-image's pair)
PROBLEMS = (
    ("content relu3_1", config.Settings(alpha=1.0, beta=0.0, content_layers=("relu3_1",)),
     None),
    ("style transfer (defaults)", DEFAULTS, None),
    ("Tubingen + Starry Night (defaults)", DEFAULTS, "starry_night.jpg"),
    ("Tubingen + Shipwreck (defaults)", DEFAULTS, "shipwreck.jpg"),
)
SCIPY = "scipy L-BFGS-B"


def problems(size):
  """(name, settings, content, style) of each problem whose images are here."""
  folder = IMAGES_DIR.value or os.environ.get("NST_IMAGES_DIR")
  for name, settings, artwork in PROBLEMS:
    if artwork is None:
      yield (name, settings) + common.pair(size)
    elif folder:
      yield (name, settings) + image.load_pair(
          os.path.join(folder, "content", "tubingen.jpg"),
          os.path.join(folder, "style", artwork), size)


def run_tfp(problem, x0, budget):
  """(evaluations, loss) after each iteration until the budget is spent."""
  state = problem.start(tf.constant(x0.reshape(1, -1)))
  trace = [(1, float(state.objective_value[0]))]
  while trace[-1][0] < budget and not bool(state.failed[0] | state.converged[0]):
    state = problem.resume(state, state.num_iterations + 1)
    trace.append((int(state.num_objective_evaluations),
                  float(state.objective_value[0])))
  return trace, int(state.num_iterations)


def run_scipy(problem, x0, budget, num_correction_pairs):
  """scipy's L-BFGS-B, unbounded, all tolerances 0, on the same function."""
  count, last, trace = [0], [None], []

  def fun(x):
    value, grad = problem.value_and_gradients(tf.constant(x[None], tf.float32))
    count[0] += 1
    last[0] = float(value[0])
    if count[0] == 1:
      trace.append((1, last[0]))
    return last[0], grad.numpy()[0].astype(np.float64)

  result = scipy.optimize.minimize(
      fun, x0.reshape(-1).astype(np.float64), jac=True, method="L-BFGS-B",
      # Called after each iteration; the accepted point is the last one evaluated.
      callback=lambda xk: trace.append((count[0], last[0])),
      options=dict(maxcor=num_correction_pairs, maxfun=budget, maxiter=10 * budget,
                   ftol=0.0, gtol=0.0))
  return trace, int(result.nit)


def loss_at(trace, budget):
  """The loss of the last iterate reached within `budget` evaluations."""
  return min(loss for evals, loss in trace if evals <= budget)


def main(argv):
  del argv
  budgets = [int(b) for b in BUDGETS.value]
  conv = vgg.load_conv_weights(weights.resolve())
  results, shapes = {}, {}
  for name, settings, content, style in problems(SIZE.value):
    shapes[name] = list(content.shape[:2])
    results[name] = {}
    for opt in OPTIMISER_NAMES.value:
      line_search = (opt.split("(")[1].rstrip(")") if "(" in opt
                     else settings.line_search)
      problem = optimize.Problem(
          content, style, dataclasses.replace(settings, line_search=line_search),
          vgg_weights=conv)
      runs = []
      for seed in range(STARTS.value):
        x0 = optimize.initial_image("random", content, style, seed)
        start = time.perf_counter()
        if opt == SCIPY:
          trace, iterations = run_scipy(problem, x0, max(budgets),
                                        settings.num_correction_pairs)
        else:
          trace, iterations = run_tfp(problem, x0, max(budgets))
        evals = trace[-1][0]
        runs.append(dict(
            seed=seed, seconds=round(time.perf_counter() - start, 2),
            iterations=iterations, evaluations=evals,
            evals_per_iteration=round((evals - 1) / max(iterations, 1), 3),
            loss_at={b: loss_at(trace, b) for b in budgets}, start_loss=trace[0][1]))
        print(name, opt, json.dumps(runs[-1]), flush=True)
      results[name][opt] = runs

  lines = [f"Loss after N value-and-gradient evaluations ({SIZE.value} px longest side; "
           f"{STARTS.value} uniform-noise starts, seeds 0-{STARTS.value - 1}; ratio = "
           "loss / scipy's from the same start at the same N; lower is better). "
           f"{common.describe_cpu(common.cpu_info())}", "",
           "| problem | optimiser | evals/iteration | "
           + " | ".join(f"loss @{b}, median | ratio @{b}: median (per start)"
                        for b in budgets) + " |",
           "|---|---|---|" + "---|---|" * len(budgets)]
  for name, by_opt in results.items():
    ref = by_opt.get(SCIPY)
    for opt, runs in by_opt.items():
      cells = []
      for b in budgets:
        cells.append(f"{statistics.median(r['loss_at'][b] for r in runs):.4g}")
        if ref is None:
          cells.append("")
          continue
        ratios = [r["loss_at"][b] / s["loss_at"][b] for r, s in zip(runs, ref)]
        cells.append(f"{statistics.median(ratios):.2f} ("
                     + ", ".join(f"{x:.2f}" for x in ratios) + ")")
      per_iteration = statistics.median(r["evals_per_iteration"] for r in runs)
      lines.append(f"| {name} | {opt} | {per_iteration:.2f} | " + " | ".join(cells) + " |")
  table = "\n".join(lines)
  print(table)
  os.makedirs(OUTPUT_DIR.value, exist_ok=True)
  with open(os.path.join(OUTPUT_DIR.value, "optimizer.md"), "w", encoding="utf-8") as f:
    f.write(table + "\n")
  with open(os.path.join(OUTPUT_DIR.value, "optimizer.json"), "w", encoding="utf-8") as f:
    json.dump(dict(cpu=common.describe_cpu(common.cpu_info()), tensorflow=tf.__version__,
                   scipy=scipy.__version__, shapes=shapes, results=results), f, indent=1)


if __name__ == "__main__":
  app.run(main)
