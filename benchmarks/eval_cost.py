"""Cost of one value-and-gradient evaluation of the default problem, per image size.

For each square size it measures (see benchmarks/README.md for every column):
  1. ours: median seconds of `Problem.value_and_gradients` (tracing excluded);
  2. the analytic conv FLOPs of that evaluation, the GFLOP/s achieved, and the
     fraction of this machine's peak (a large TF float32 matmul, and lscpu's figures);
  3. the same evaluation in PyTorch (same weights, preprocessing and loss), checked
     against ours and timed the same way; torch is optional (benchmark-only);
  4. the peak resident memory of a short L-BFGS run, in a fresh subprocess per size,
     next to nst.memory.estimate_bytes.

  python benchmarks/eval_cost.py --sizes=128,256,512,1024 --repeats=5 \
      --output_dir=benchmarks/results
"""

import dataclasses
import datetime
import gc
import json
import os
import platform
import resource
import subprocess
import sys

from absl import app
from absl import flags
import numpy as np

# Run from a checkout without installing: make `nst` importable.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from nst import config  # pylint: disable=wrong-import-position
from nst.engine import memory  # pylint: disable=wrong-import-position
from nst.engine import vgg  # pylint: disable=wrong-import-position
from nst.engine import weights as weights_lib  # pylint: disable=wrong-import-position
import common  # pylint: disable=wrong-import-position

FLAGS = flags.FLAGS
flags.DEFINE_list("sizes", ["128", "256", "512", "1024"],
                  "Square image sides (px). 2048 is run only when listed here.")
flags.DEFINE_integer("repeats", 5, "Timed evaluations per size (after one warm-up).")
flags.DEFINE_list("eval_modes", ["plain", "xla"], "Evaluation modes of ours to time "
                  "(--eval_mode); the faster is what --eval_mode=auto picks.")
flags.DEFINE_string("output_dir", "benchmarks/results",
                    "Where eval_cost.md and eval_cost.json are written.")
flags.DEFINE_string("vgg_weights", None, "VGG19 weights file (default: nst.weights).")
flags.DEFINE_integer("matmul_size", 4096, "Side n of the n x n matmul for the peak.")
flags.DEFINE_integer("memory_iterations", 5, "L-BFGS iterations of the memory run.")
flags.DEFINE_list("torch_layouts", ["contiguous", "channels_last"],
                  "Torch memory formats to time; the table shows the fastest.")
flags.DEFINE_bool("bfloat16", True, "Also time both in bfloat16 (ours: --precision="
                  "bfloat16, plain; torch: bfloat16 weights and activations, "
                  "channels-last, Gram matrices and loss in float32).")
flags.DEFINE_integer("memory_child", 0, "Internal: run the memory measurement of this "
                     "size in this process and print its result as JSON.")

GB = 1e9


# --- problem inputs -------------------------------------------------------------------

def inputs(size):
  """Deterministic content and style images (size x size, RGB 0-255) and position."""
  content, style = common.pair(size, square=True)
  return content, style, common.noise((1, size * size * 3))


# --- 1. ours --------------------------------------------------------------------------

def time_ours(size, settings, weights_path, repeats, eval_mode="plain"):
  """(median seconds, loss, gradient) of nst's value_and_gradients at `size`,
  evaluated as `eval_mode` (plain or xla: the two --eval_mode=auto chooses from)."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from nst.engine import optimize  # pylint: disable=import-outside-toplevel
  content, style, position = inputs(size)
  problem = optimize.Problem(content, style, settings, weights_path=weights_path,
                             eval_mode=eval_mode)
  position = tf.constant(position)

  def evaluate():
    value, gradient = problem.value_and_gradients(position)
    return value.numpy(), gradient.numpy()  # .numpy() waits for the result

  seconds = common.median_seconds(evaluate, repeats)
  value, gradient = evaluate()
  return seconds, float(value[0]), gradient


# --- 2. FLOPs and peak ----------------------------------------------------------------

def conv_flops(size, settings):
  """Multiply-add FLOPs (2 per MAC) of the 3x3 convolutions of one forward and one
  backward pass through the network truncated at the deepest layer used.

  The backward pass needs only input gradients (the weights are constants): for each
  conv that is a transposed conv with exactly the forward's MACs, conv1_1 included
  (the gradient with respect to the pixels). So backward = forward. Biases, ReLUs,
  pooling, Gram matrices and the loss are not counted (see README).
  """
  deepest = max(vgg.LAYER_NAMES.index(layer) for layer in settings.layers())
  forward = 0
  channels_in = 3
  for layer in vgg.LAYER_NAMES[:deepest + 1]:
    if layer.startswith("conv"):
      side = size // 2 ** vgg.downsampling(layer)
      channels_out = vgg.channels(layer)
      forward += 2 * side * side * channels_in * channels_out * 9
      channels_in = channels_out
  return 2 * forward


def matmul_peak(n, repeats=5):
  """Practical float32 peak (FLOP/s): median time of an n x n TF matmul."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(0)
  a = tf.constant(rng.standard_normal((n, n), np.float32))
  b = tf.constant(rng.standard_normal((n, n), np.float32))
  seconds = common.median_seconds(lambda: tf.linalg.matmul(a, b).numpy(), repeats)
  return 2 * n ** 3 / seconds


def cpu_info():
  """common.cpu_info() and, where it can be told, the theoretical float32 peak =
  cores x GHz x FLOPs/cycle/core."""
  info = common.cpu_info()
  info["flops_per_cycle"], info["peak_basis"] = _flops_per_cycle(info)
  info["theoretical_peak_gflops"] = (
      info["cores"] * info["mhz"] / 1e3 * info["flops_per_cycle"]
      if info["flops_per_cycle"] and info["mhz"] else None)
  return info


def _flops_per_cycle(info):
  """float32 FLOPs per cycle per core, or (None, why) when the flags can't tell.

  The flags give the vector width, not how many FMA units there are; that is known
  only for the AMD families named here (two FMA pipes per core).
  """
  is_amd = "AMD" in info["cpu_model"]
  if is_amd and info["family"] == 0x1A and info["avx512f"]:
    return 64, ("AMD family 0x1A (Zen 5): 2 FMA pipes x 512 bit x 2 FLOPs, at the "
                "nominal clock /proc/cpuinfo reports (boost unknown)")
  if is_amd and info["family"] == 0x19 and info["fma"]:
    return 32, ("AMD family 0x19 (Zen 3/4): 2 FMA pipes x 256 bit x 2 FLOPs, at the "
                "nominal clock /proc/cpuinfo reports (boost unknown)")
  return None, "unknown: the CPU flags do not say how many FMA units a core has"


# --- 3. PyTorch peer ------------------------------------------------------------------

def torch_version():
  try:
    import torch  # pylint: disable=import-outside-toplevel
  except ImportError:
    return None
  return torch.__version__


class TorchProblem:
  """nst's default problem rebuilt in PyTorch: the same VGG19 weights (HWIO -> OIHW),
  Caffe preprocessing, network truncation, avg pooling and paper-convention loss."""

  def __init__(self, content, style, settings, conv_weights, channels_last,
               dtype=None):
    import torch  # pylint: disable=import-outside-toplevel
    from torch import nn  # pylint: disable=import-outside-toplevel
    if (settings.loss_convention != "paper" or settings.pooling != "avg"
        or settings.normalize_vgg or settings.precision != "float32"):
      raise ValueError("the torch peer implements only the default problem: paper "
                       "loss, avg pooling, the unnormalised network in float32")
    self.torch = torch
    self.settings = settings
    self.shape = content.shape
    self.format = torch.channels_last if channels_last else torch.contiguous_format
    self.dtype = dtype or torch.float32  # the network's; Grams and losses in float32
    self.content_weights = settings.content_weights()
    self.style_weights = settings.style_weights()
    self.layers = settings.layers()
    deepest = max(vgg.LAYER_NAMES.index(layer) for layer in self.layers)
    self.modules = []
    for name in vgg.LAYER_NAMES[:deepest + 1]:
      if name.startswith("conv"):
        kernel, bias = conv_weights[name]
        conv = nn.Conv2d(kernel.shape[2], kernel.shape[3], 3, padding=1)
        conv.weight.data = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())
        conv.bias.data = torch.from_numpy(bias.copy())
        module = conv
      elif name.startswith("relu"):
        module = nn.ReLU()
      else:
        module = nn.AvgPool2d(2)
      module.requires_grad_(False)  # input gradients only, as in nst
      self.modules.append((name, module.to(memory_format=self.format,
                                           dtype=self.dtype)))
    self.mean = torch.tensor(vgg.MEAN_PIXEL_BGR, dtype=torch.float32)
    with torch.no_grad():
      self.content_targets = {layer: f for layer, f in
                              self.features(torch.from_numpy(content)).items()
                              if layer in self.content_weights}
      self.style_targets = {layer: self.gram(f) for layer, f in
                            self.features(torch.from_numpy(style)).items()
                            if layer in self.style_weights}

  def features(self, rgb):
    """{layer: activations [1, N, H, W]} of an RGB 0-255 image [H, W, 3]."""
    bgr = rgb.flip(-1) - self.mean
    x = bgr.permute(2, 0, 1)[None].contiguous(memory_format=self.format).to(self.dtype)
    outputs = {}
    for name, module in self.modules:
      x = module(x)
      if name in self.layers:
        outputs[name] = x.float()
    return outputs

  @staticmethod
  def gram(features):
    flat = features.reshape(features.shape[1], -1)  # [N, M]
    return flat @ flat.T

  def loss(self, position):
    """Total loss of flat position [1, H*W*3], as nst.engine.losses.total_loss ("paper")."""
    features = self.features(position.reshape(self.shape))
    content = sum(w * 0.5 * ((features[l] - self.content_targets[l]) ** 2).sum()
                  for l, w in self.content_weights.items())
    style = 0.0
    for layer, w in self.style_weights.items():
      _, n, h, width = features[layer].shape
      m = h * width
      error = ((self.gram(features[layer]) - self.style_targets[layer]) ** 2).sum()
      style = style + w * error / (4.0 * n ** 2 * m ** 2)
    return self.settings.alpha * content + self.settings.beta * style

  def value_and_gradients(self, position):
    x = position.detach().requires_grad_(True)
    value = self.loss(x)
    value.backward()
    return value.item(), x.grad


def time_torch(size, settings, conv_weights, repeats, layouts, bfloat16=False):
  """{layout: (median seconds, loss, gradient)} of the torch peer at `size`."""
  import torch  # pylint: disable=import-outside-toplevel
  torch.set_num_threads(os.cpu_count())
  content, style, position = inputs(size)
  position = torch.from_numpy(position)
  results = {}
  for layout in layouts:
    problem = TorchProblem(content, style, settings, conv_weights,
                           channels_last=(layout == "channels_last"),
                           dtype=torch.bfloat16 if bfloat16 else None)
    seconds = common.median_seconds(lambda: problem.value_and_gradients(position), repeats)
    value, gradient = problem.value_and_gradients(position)
    results[layout] = (seconds, value, gradient.numpy())
  return results


# --- 4. memory ------------------------------------------------------------------------

def memory_child(size, settings, weights_path, iterations):
  """Peak RSS (bytes) of building the Problem and running `iterations` L-BFGS
  iterations at `size`, in this (fresh) process."""
  from nst.engine import optimize  # pylint: disable=import-outside-toplevel
  settings = dataclasses.replace(settings, num_steps=iterations)
  content, style, position = inputs(size)
  problem = optimize.Problem(content, style, settings, weights_path=weights_path)
  for iterate in optimize.stylize(problem, position.reshape(content.shape),
                                  report_every=iterations):
    pass
  return {"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
          "vm_hwm_bytes": memory.proc_bytes("/proc/self/status", "VmHWM"), "evaluations": iterate.evaluations}


def measure_memory(size, weights_path, iterations):
  """Run memory_child in a subprocess, so each size starts from an empty process.

  Must run before this process imports TensorFlow or torch: Linux carries the
  parent's peak RSS into a (v)forked child's ru_maxrss across exec, so a child of a
  2 GB parent would report at least 2 GB (measured: 1.53 GB instead of 1.10 GB at
  128 px).
  """
  command = [sys.executable, os.path.abspath(__file__), f"--memory_child={size}",
             f"--memory_iterations={iterations}", f"--vgg_weights={weights_path}"]
  done = subprocess.run(command, capture_output=True, text=True, check=False)
  if done.returncode != 0:
    return {"error": done.stderr.strip().splitlines()[-1:]}
  return json.loads(done.stdout.strip().splitlines()[-1])


# --- report ---------------------------------------------------------------------------

def _fmt(value, spec):
  return "-" if value is None else format(value, spec)


def markdown(machine, rows):
  peak = machine["matmul_peak_gflops"]
  theory = machine["theoretical_peak_gflops"]
  lines = [
      f"CPU: {machine['cpu_model']}, {machine['cores']} cores; TensorFlow "
      f"{machine['tensorflow']}, PyTorch {machine['torch'] or 'not installed'}; "
      f"{machine['date']}; load average {machine['load_average_start']:.2f} at the "
      f"start, {machine['load_average_end']:.2f} at the end",
      f"Peak float32: {peak:.1f} GFLOP/s measured ({machine['matmul_size']}^2 matmul in "
      f"TF); theoretical {_fmt(theory, '.1f')} GFLOP/s ({machine['peak_basis']})",
  ]
  if theory and peak > theory:
    # A matmul faster than the nominal peak means the cores run above the clock
    # /proc/cpuinfo reports (boost); this is the clock the matmul implies at least.
    implied = peak / (machine["cores"] * machine["flops_per_cycle"])
    lines.append(f"The matmul beats the nominal peak: the cores run at >= {implied:.2f} "
                 "GHz, so % of nominal peak overstates the fraction.")
  lines += [
      "",
      "| size | ours s | ours by mode | torch s | ours/torch | GFLOP | GFLOP/s "
      "| % matmul peak | % nominal peak | peak RSS GB | estimate GB "
      "| ours bf16 s | torch bf16 s | bf16 ours/torch | ours f32/bf16 |",
      "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
      "| ---: | ---: | ---: | ---: |",
  ]
  for r in rows:
    if r.get("skipped"):
      lines.append(f"| {r['size']} | skipped: {r['skipped']} ||||||||||")
      continue
    lines.append(
        f"| {r['size']} | {r['ours_s']:.3f} ({r['ours_mode']}) | "
        + ", ".join(f"{m} {t:.3f}" for m, t in r["ours_modes"].items())
        + f" | {_fmt(r['torch_s'], '.3f')} "
        f"| {_fmt(r['ratio'], '.2f')} | {r['gflop']:.2f} | {r['gflops']:.1f} "
        f"| {r['pct_matmul_peak']:.0f} | {_fmt(r['pct_theoretical_peak'], '.0f')} "
        f"| {_fmt(r['peak_rss_gb'], '.2f')} | {r['estimate_gb']:.2f} "
        f"| {_fmt(r.get('ours_bf16_s'), '.3f')} | {_fmt(r.get('torch_bf16_s'), '.3f')} "
        f"| {_fmt(r.get('bf16_ratio'), '.2f')} | {_fmt(r.get('ours_f32_over_bf16'), '.2f')} |")
  return "\n".join(lines) + "\n"


def memory_row(size, settings, weights_path):
  """The memory columns of `size`, or why the size is skipped (estimate too big)."""
  row = {"size": size}
  estimate = memory.estimate_bytes((size, size), settings.layers(),
                                   settings.num_correction_pairs)
  available = memory.available_bytes()
  row["estimate_gb"] = estimate / GB
  if available is not None and estimate > available:
    row["skipped"] = (f"estimate {estimate / GB:.1f} GB > available "
                      f"{available / GB:.1f} GB")
    return row
  row["memory_run"] = measure_memory(size, weights_path, FLAGS.memory_iterations)
  rss = row["memory_run"].get("peak_rss_bytes")
  row["peak_rss_gb"] = rss / GB if rss else None
  return row


def time_row(row, settings, weights_path, conv_weights, machine):
  """Add the timing, FLOP and torch columns to `row`."""
  size = row["size"]
  # Each mode --eval_mode=auto chooses from; "ours" is the faster, as auto picks.
  row["ours_modes"], measured = {}, {}
  for mode in FLAGS.eval_modes:
    measured[mode] = time_ours(size, settings, weights_path, FLAGS.repeats, mode)
    row["ours_modes"][mode] = measured[mode][0]
  row["ours_mode"] = min(row["ours_modes"], key=row["ours_modes"].get)
  row["ours_s"], ours_loss, ours_gradient = measured[row["ours_mode"]]
  row["ours_loss"] = ours_loss
  flops = conv_flops(size, settings)
  row["gflop"] = flops / GB
  row["gflops"] = flops / row["ours_s"] / GB
  row["pct_matmul_peak"] = 100 * row["gflops"] / machine["matmul_peak_gflops"]
  theory = machine["theoretical_peak_gflops"]
  row["pct_theoretical_peak"] = 100 * row["gflops"] / theory if theory else None

  row["torch_s"] = row["ratio"] = None
  if machine["torch"]:
    per_layout = time_torch(size, settings, conv_weights, FLAGS.repeats,
                            FLAGS.torch_layouts)
    row["torch_layouts"] = {}
    for layout, (seconds, loss, gradient) in per_layout.items():
      row["torch_layouts"][layout] = {
          "seconds": seconds, "loss": loss,
          "loss_rel_diff": abs(loss - ours_loss) / abs(ours_loss),
          "grad_rel_l2_diff": float(np.linalg.norm(gradient - ours_gradient)
                                    / np.linalg.norm(ours_gradient))}
    best = min(row["torch_layouts"], key=lambda k: row["torch_layouts"][k]["seconds"])
    row["torch_layout"] = best
    row["torch_s"] = row["torch_layouts"][best]["seconds"]
    row["ratio"] = row["ours_s"] / row["torch_s"]
  if FLAGS.bfloat16:
    # Plain only: XLA's bfloat16 convolutions were 2x slower here (benchmarks/README).
    bf16 = dataclasses.replace(settings, precision="bfloat16")
    row["ours_bf16_s"], bf16_loss, _ = time_ours(size, bf16, weights_path, FLAGS.repeats)
    row["ours_bf16_loss_rel_diff"] = abs(bf16_loss - ours_loss) / abs(ours_loss)
    row["ours_f32_over_bf16"] = row["ours_s"] / row["ours_bf16_s"]
    if machine["torch"]:
      seconds, loss, _ = time_torch(size, settings, conv_weights, FLAGS.repeats,
                                    ["channels_last"], bfloat16=True)["channels_last"]
      row["torch_bf16_s"], row["torch_bf16_loss"] = seconds, loss
      row["bf16_ratio"] = row["ours_bf16_s"] / seconds
  gc.collect()  # drop this size's models before the next, larger one
  return row


def check_torch(row):
  """Print the torch peer's agreement with ours; warn past 1e-3 (loss) or 1e-2 (grad)."""
  for layout, t in row.get("torch_layouts", {}).items():
    ok = t["loss_rel_diff"] < 1e-3 and t["grad_rel_l2_diff"] < 1e-2
    print(f"  {row['size']} px torch {layout}: loss {t['loss']:.6g} vs ours "
          f"{row['ours_loss']:.6g} (rel diff {t['loss_rel_diff']:.1e}), gradient rel L2 "
          f"diff {t['grad_rel_l2_diff']:.1e}, {t['seconds']:.3f} s"
          + ("" if ok else "  <-- MISMATCH"))


def main(argv):
  del argv
  settings = config.Settings().validate()
  weights_path = str(weights_lib.resolve(FLAGS.vgg_weights))
  if FLAGS.memory_child:
    print(json.dumps(memory_child(FLAGS.memory_child, settings, weights_path,
                                  FLAGS.memory_iterations)))
    return

  sizes = [int(s) for s in FLAGS.sizes]
  for size in sizes:
    settings.check_image_shape((size, size))
  # Memory first, while this process is still small (see measure_memory).
  rows = []
  for size in sizes:
    rows.append(memory_row(size, settings, weights_path))
    print(f"  {size} px memory: peak RSS {_fmt(rows[-1].get('peak_rss_gb'), '.2f')} GB, "
          f"estimate {rows[-1]['estimate_gb']:.2f} GB {rows[-1].get('skipped', '')}")

  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  machine = cpu_info()
  machine.update(
      date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
      python=platform.python_version(), tensorflow=tf.__version__,
      torch=torch_version(), matmul_size=FLAGS.matmul_size, repeats=FLAGS.repeats,
      memory_iterations=FLAGS.memory_iterations, weights=weights_path,
      weights_md5=weights_lib.MD5, load_average_start=os.getloadavg()[0])
  machine["matmul_peak_gflops"] = matmul_peak(FLAGS.matmul_size) / GB
  print(f"matmul peak: {machine['matmul_peak_gflops']:.1f} GFLOP/s; theoretical: "
        f"{_fmt(machine['theoretical_peak_gflops'], '.1f')} ({machine['peak_basis']})")
  conv_weights = vgg.load_conv_weights(weights_path)

  for row in rows:
    if row.get("skipped"):
      continue
    time_row(row, settings, weights_path, conv_weights, machine)
    check_torch(row)
    print(f"  {row['size']} px: ours {row['ours_s']:.3f} s, "
          f"torch {_fmt(row['torch_s'], '.3f')} s")

  # Other work on the cores skews everything, torch most (its OpenMP threads wait on
  # each other at every op): the load average says whether the machine was quiet.
  machine["load_average_end"] = os.getloadavg()[0]
  table = markdown(machine, rows)
  print(table)
  os.makedirs(FLAGS.output_dir, exist_ok=True)
  with open(os.path.join(FLAGS.output_dir, "eval_cost.md"), "w", encoding="utf-8") as f:
    f.write(table)
  with open(os.path.join(FLAGS.output_dir, "eval_cost.json"), "w",
            encoding="utf-8") as f:
    json.dump({"machine": machine, "sizes": rows}, f, indent=2)


if __name__ == "__main__":
  app.run(main)
