"""Speed levers, measured: XLA, bfloat16 compute, thread settings; and the bfloat16
quality check (same run in float32 and bfloat16: final loss, both measured with the
float32 network, within 2%, and PSNR of the two results >= 35 dB).

  python benchmarks/levers.py --sizes=256,512 --repeats=5
  python benchmarks/levers.py --sizes=256 --intra_op=2 --inter_op=1 --quality_steps=0

Writes <output_dir>/levers[_<threads>].md and .json.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from nst import config
from nst import image
from nst.engine import optimize
from nst.engine import vgg
from nst.engine import weights
import common

SIZES = flags.DEFINE_list("sizes", "256,512", "Square image sides, px.")
REPEATS = flags.DEFINE_integer("repeats", 5, "Timed evaluations (median reported).")
INTRA_OP = flags.DEFINE_integer("intra_op", 0, "TF intra-op threads (0: TF's default).")
INTER_OP = flags.DEFINE_integer("inter_op", 0, "TF inter-op threads (0: TF's default).")
QUALITY_SIZE = flags.DEFINE_integer("quality_size", 256, "Side of the quality check.")
QUALITY_STEPS = flags.DEFINE_integer("quality_steps", 300,
                                     "Iterations of the quality check (0: skip).")
OUTPUT_DIR = flags.DEFINE_string("output_dir", "benchmarks/results", "Output folder.")


def eval_times(size, conv, repeats):
  content, style = common.pair(size, square=True)
  x = tf.constant(optimize.initial_image("random", content, style, 0).reshape(1, -1))
  out = {}
  for name, precision, xla in (("float32", "float32", False),
                               ("float32 + XLA", "float32", True),
                               ("bfloat16", "bfloat16", False)):
    problem = optimize.Problem(content, style, config.Settings(precision=precision),
                               vgg_weights=conv)
    fn = problem.value_and_gradients
    if xla:
      fn = tf.function(problem.value_and_gradients_python, jit_compile=True)
    out[name] = common.median_seconds(lambda: fn(x)[1].numpy(), repeats)
    print(size, name, round(out[name], 4), flush=True)
  return out


def quality(size, steps, conv):
  """The default problem in float32 and in bfloat16 from the same start, and, as the
  yardstick of how far two float32 runs drift apart anyway, float32 from a start
  perturbed by at most 0.01 grey level."""
  content, style = common.pair(size)
  x0 = optimize.initial_image("random", content, style, 0)
  nudged = x0 + np.random.default_rng(1).uniform(-0.01, 0.01, x0.shape).astype(np.float32)
  reference = optimize.Problem(content, style, config.Settings(num_steps=steps),
                               vgg_weights=conv)
  out = {}
  for name, precision, start in (("float32", "float32", x0),
                                 ("bfloat16", "bfloat16", x0),
                                 ("float32_nudged", "float32", nudged)):
    settings = config.Settings(num_steps=steps, precision=precision)
    problem = optimize.Problem(content, style, settings, vgg_weights=conv)
    last = list(optimize.stylize(problem, start, report_every=steps))[-1]
    loss = float(reference.loss_terms(tf.constant(last.image.reshape(1, -1)))["total"][0])
    out[name] = dict(image=last.image, loss=loss, seconds=last.elapsed,
                     evaluations=last.evaluations)
  f32, bf16, nudged = out["float32"], out["bfloat16"], out["float32_nudged"]
  return dict(size=list(content.shape[:2]), steps=steps,
              loss_float32=f32["loss"], loss_bfloat16=bf16["loss"],
              loss_ratio=bf16["loss"] / f32["loss"],
              psnr_db=image.psnr(bf16["image"], f32["image"]),
              loss_ratio_float32_nudged=nudged["loss"] / f32["loss"],
              psnr_db_float32_nudged=image.psnr(nudged["image"], f32["image"]),
              seconds_float32=f32["seconds"], seconds_bfloat16=bf16["seconds"],
              evaluations_float32=f32["evaluations"],
              evaluations_bfloat16=bf16["evaluations"])


def main(argv):
  del argv
  if INTRA_OP.value:
    tf.config.threading.set_intra_op_parallelism_threads(INTRA_OP.value)
  if INTER_OP.value:
    tf.config.threading.set_inter_op_parallelism_threads(INTER_OP.value)
  threads = f"intra_op={INTRA_OP.value or 'default'}, inter_op={INTER_OP.value or 'default'}"
  conv = vgg.load_conv_weights(weights.resolve())
  times = {int(s): eval_times(int(s), conv, REPEATS.value) for s in SIZES.value}
  variants = list(next(iter(times.values())))
  lines = [f"Median seconds per value-and-gradient evaluation, default layers ({threads}; "
           "speed-up over float32 in brackets)", "",
           "| size | " + " | ".join(variants) + " |", "|---|" + "---|" * len(variants)]
  for size, by in times.items():
    lines.append(f"| {size}x{size} | " + " | ".join(
        f"{by[v]:.3f} ({by['float32'] / by[v]:.2f}x)" for v in variants) + " |")
  result = {"threads": threads, "eval_seconds": times}
  if QUALITY_STEPS.value:
    q = quality(QUALITY_SIZE.value, QUALITY_STEPS.value, conv)
    result["bfloat16_quality"] = q
    lines += ["", f"bfloat16 quality check ({q['size'][1]}x{q['size'][0]} px, "
              f"{q['steps']} iterations, same start): final loss (float32 network) "
              f"{q['loss_bfloat16']:.4g} vs {q['loss_float32']:.4g} "
              f"(ratio {q['loss_ratio']:.3f}; target within 2%), PSNR of the two results "
              f"{q['psnr_db']:.1f} dB (target >= 35), run time {q['seconds_bfloat16']:.0f} s "
              f"vs {q['seconds_float32']:.0f} s. Yardstick: float32 from a start nudged "
              f"by <= 0.01 grey level: loss ratio {q['loss_ratio_float32_nudged']:.3f}, "
              f"PSNR {q['psnr_db_float32_nudged']:.1f} dB"]
  table = "\n".join(lines)
  print(table)
  suffix = "" if not (INTRA_OP.value or INTER_OP.value) else (
      f"_intra{INTRA_OP.value}_inter{INTER_OP.value}")
  os.makedirs(OUTPUT_DIR.value, exist_ok=True)
  with open(os.path.join(OUTPUT_DIR.value, f"levers{suffix}.md"), "w",
            encoding="utf-8") as f:
    f.write(table + "\n")
  with open(os.path.join(OUTPUT_DIR.value, f"levers{suffix}.json"), "w",
            encoding="utf-8") as f:
    json.dump(result, f, indent=1)


if __name__ == "__main__":
  app.run(main)
