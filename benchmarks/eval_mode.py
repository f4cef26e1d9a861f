"""What --eval_mode=auto chooses between, measured: seconds per value-and-gradient
evaluation of the default problem with the plain tf.function and with XLA, and both
again with oneDNN off (TF_ENABLE_ONEDNN_OPTS=0, in a child process: it only takes
effect before TensorFlow loads), on square images.

  python benchmarks/eval_mode.py --sizes=256,512 --repeats=5
  python benchmarks/eval_mode.py --sizes=64 --repeats=2 --output_dir=/tmp/smoke

Prints a Markdown table headed by the CPU (model, cpuinfo family and model, vector
extensions), TensorFlow's version and the device, and writes it to
<output_dir>/eval_mode.md, with everything in eval_mode.json. Run it on an otherwise
idle machine.
"""

import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags

SIZES = flags.DEFINE_list("sizes", "256,512", "Square image sides, px.")
REPEATS = flags.DEFINE_integer("repeats", 5, "Timed evaluations (median reported), "
                               "after one untimed warm-up (tracing, XLA compilation).")
ONEDNN_OFF = flags.DEFINE_bool("onednn_off", True,
                               "Also measure with TF_ENABLE_ONEDNN_OPTS=0 (a child "
                               "process).")
OUTPUT_DIR = flags.DEFINE_string("output_dir", "benchmarks/results", "Output folder.")
CHILD = flags.DEFINE_bool("child", False, "Internal: measure in this process only and "
                          "print the result as one JSON line.")
MODES = ("plain", "xla")
RESULT = "RESULT "


def measure(sizes, repeats):
  """{size: {mode: {"median": s, "first": s (warm-up, compile included)}}}."""
  import time
  import tensorflow as tf
  from nst import config
  from nst.engine import optimize
  from nst.engine import vgg
  from nst.engine import weights
  import common
  conv = vgg.load_conv_weights(weights.resolve())
  out = {}
  for size in sizes:
    content, style = common.pair(size, square=True)
    x = tf.constant(optimize.initial_image("random", content, style, 0).reshape(1, -1))
    plain = optimize.Problem(content, style, config.Settings(), vgg_weights=conv)
    out[size] = {}
    for mode in MODES:
      problem = plain.using(mode)
      evaluate = lambda: problem.value_and_gradients(x)[1].numpy()  # pylint: disable=cell-var-from-loop
      try:
        start = time.perf_counter()
        evaluate()
        first = time.perf_counter() - start
        median = common.median_seconds(evaluate, repeats)
      except Exception as e:  # pylint: disable=broad-except
        out[size][mode] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0]}"}
        print(size, mode, "failed:", out[size][mode]["error"], file=sys.stderr)
        continue
      out[size][mode] = {"median": median, "first": first}
      print(size, mode, f"{median:.4f} s (first {first:.1f} s)", file=sys.stderr,
            flush=True)
  return out


def child(sizes, repeats):
  """The same measurement in a fresh process with oneDNN off."""
  env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="0")
  done = subprocess.run(
      [sys.executable, os.path.abspath(__file__), "--child",
       f"--sizes={','.join(map(str, sizes))}", f"--repeats={repeats}"],
      env=env, stdout=subprocess.PIPE, text=True, check=False)
  for line in done.stdout.splitlines():
    if line.startswith(RESULT):
      return {int(k): v for k, v in json.loads(line[len(RESULT):]).items()}
  print(f"oneDNN-off child failed (exit {done.returncode})", file=sys.stderr)
  return {}


def _cell(entry, baseline):
  if not entry or "median" not in entry:
    return "failed" if entry else "-"
  return f"{entry['median']:.3f} ({baseline / entry['median']:.2f}x)"


def main(argv):
  del argv
  sizes = [int(s) for s in SIZES.value]
  if CHILD.value:
    print(RESULT + json.dumps(measure(sizes, REPEATS.value)), flush=True)
    return
  import tensorflow as tf
  import common
  from nst.engine import evalmode
  times = {"oneDNN on": measure(sizes, REPEATS.value)}
  if ONEDNN_OFF.value:
    times["oneDNN off"] = child(sizes, REPEATS.value)
  device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
  columns = [(onednn, mode) for onednn in times for mode in MODES]
  lines = [f"Median seconds per value-and-gradient evaluation of the default problem "
           f"over {REPEATS.value} calls after a warm-up (speed-up over plain with "
           f"oneDNN on in brackets); {common.describe_cpu(common.cpu_info())}; "
           f"TensorFlow {tf.__version__}; {device}", "",
           "| size | " + " | ".join(f"{mode}, {onednn}" for onednn, mode in columns)
           + " | fastest |", "|---|" + "---|" * (len(columns) + 1)]
  for size in sizes:
    base = times["oneDNN on"][size]["plain"]["median"]
    cells = {(o, m): times[o].get(size, {}).get(m) for o, m in columns}
    ok = {c: e["median"] for c, e in cells.items() if e and "median" in e}
    best = min(ok, key=ok.get)
    lines.append(f"| {size}x{size} | " + " | ".join(_cell(cells[c], base)
                                                   for c in columns)
                 + f" | {best[1]}, {best[0]} |")
  lines += ["", "Warm-up (first call, tracing or XLA compilation included), s: " + "; ".join(
      f"{size} px {m}, {o}: {times[o][size][m]['first']:.1f}"
      for size in sizes for o, m in columns
      if "first" in (times[o].get(size, {}).get(m) or {}))]
  table = "\n".join(lines)
  print(table)
  os.makedirs(OUTPUT_DIR.value, exist_ok=True)
  with open(os.path.join(OUTPUT_DIR.value, "eval_mode.md"), "w", encoding="utf-8") as f:
    f.write(table + "\n")
  with open(os.path.join(OUTPUT_DIR.value, "eval_mode.json"), "w",
            encoding="utf-8") as f:
    json.dump({"cpu": common.cpu_info(), "machine": evalmode.machine(device),
               "repeats": REPEATS.value, "seconds": times}, f, indent=1)


if __name__ == "__main__":
  app.run(main)
