"""Optimiser efficiency: loss reached after a fixed number of value-and-gradient
evaluations, by our L-BFGS (line search "unit_first"), tfp's stock
`lbfgs_minimize` (Hager-Zhang, "hager_zhang") and scipy's L-BFGS-B (the optimiser of
the original reimplementation and of the authors' code), all driving the same
compiled TensorFlow value-and-gradient function from the same start.

  python benchmarks/optimizer.py --size=128 --budgets=100,300,1000

Problems (scikit-image's sample images, no downloads): a relu3_1 content
reconstruction from noise, and the default style transfer (nst's default settings).
Writes <output_dir>/optimizer.md and .json.
"""

import dataclasses
import json
import os
import platform
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
from nst import optimize
from nst import vgg
from nst import weights
import common

SIZE = flags.DEFINE_integer("size", 128, "Longest image side, px.")
BUDGETS = flags.DEFINE_list("budgets", "100,300,1000", "Evaluation budgets.")
OUTPUT_DIR = flags.DEFINE_string("output_dir", "benchmarks/results", "Output folder.")

PROBLEMS = {
    "content relu3_1": config.Settings(alpha=1.0, beta=0.0, content_layers=("relu3_1",)),
    "style transfer (defaults)": config.Settings(),
}
OPTIMISERS = ("ours (unit_first)", "tfp (hager_zhang)", "scipy L-BFGS-B")


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
  content, style = common.pair(SIZE.value)
  conv = vgg.load_conv_weights(weights.resolve())
  results = {}
  for name, settings in PROBLEMS.items():
    x0 = optimize.initial_image("random", content, style, 0)
    results[name] = {}
    for opt in OPTIMISERS:
      line_search = (opt.split("(")[1].rstrip(")") if "(" in opt
                     else settings.line_search)
      problem = optimize.Problem(
          content, style, dataclasses.replace(settings, line_search=line_search),
          vgg_weights=conv)
      start = time.perf_counter()
      if opt.startswith("scipy"):
        trace, iterations = run_scipy(problem, x0, max(budgets),
                                      settings.num_correction_pairs)
      else:
        trace, iterations = run_tfp(problem, x0, max(budgets))
      evals = trace[-1][0]
      results[name][opt] = dict(
          seconds=round(time.perf_counter() - start, 2), iterations=iterations,
          evaluations=evals, evals_per_iteration=round((evals - 1) / max(iterations, 1), 3),
          loss_at={b: loss_at(trace, b) for b in budgets}, start_loss=trace[0][1])
      print(name, opt, json.dumps(results[name][opt]), flush=True)

  h, w = content.shape[:2]
  lines = [f"Loss after N value-and-gradient evaluations ({w}x{h} px, same start: "
           "uniform noise, seed 0; ratio = loss / scipy's at the same N; lower is "
           "better)", "",
           "| problem | optimiser | evals/iteration | "
           + " | ".join(f"loss @{b} (ratio)" for b in budgets) + " |",
           "|---|---|---|" + "---|" * len(budgets)]
  for name, by_opt in results.items():
    ref = by_opt["scipy L-BFGS-B"]["loss_at"]
    for opt, r in by_opt.items():
      lines.append(f"| {name} | {opt} | {r['evals_per_iteration']:.2f} | "
                   + " | ".join(f"{r['loss_at'][b]:.4g} ({r['loss_at'][b] / ref[b]:.2f})"
                                for b in budgets) + " |")
  table = "\n".join(lines)
  print(table)
  os.makedirs(OUTPUT_DIR.value, exist_ok=True)
  with open(os.path.join(OUTPUT_DIR.value, "optimizer.md"), "w", encoding="utf-8") as f:
    f.write(table + "\n")
  with open(os.path.join(OUTPUT_DIR.value, "optimizer.json"), "w", encoding="utf-8") as f:
    json.dump(dict(machine=platform.processor() or platform.machine(),
                   cores=os.cpu_count(), tensorflow=tf.__version__,
                   scipy=scipy.__version__, size=[h, w], results=results), f, indent=1)


if __name__ == "__main__":
  app.run(main)
