"""`nst`: stylise a photograph with an artwork (Gatys, Ecker & Bethge, CVPR 2016).

With no image flags it runs on two sample images that scikit-image ships: Chelsea the
cat (CC0) in the style of an immunohistochemistry micrograph (no known copyright
restrictions), so a fresh install can be tried offline.
"""

import math
import os
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ logs quiet

# pylint: disable=g-import-not-at-top
from absl import app
from absl import flags

from nst import config
from nst import image as image_lib
from nst import memory
from nst import normalize
from nst import plot as plot_lib
from nst import records
from nst import vgg
from nst import weights as weights_lib
from nst.errors import UserError
from nst.files import ensure_writable_dir

_DEFAULTS = config.Settings()
SAMPLE_CONTENT = "chelsea.png"
SAMPLE_STYLE = "ihc.png"


def _list(values):
  return ",".join(str(v) for v in values)


_CONTENT_IMAGE = flags.DEFINE_string(
    "content_image", None,
    f"Photograph (JPEG or PNG). Default: scikit-image's sample {SAMPLE_CONTENT}.")
_STYLE_IMAGE = flags.DEFINE_string(
    "style_image", None,
    f"Artwork (JPEG or PNG); rescaled to the content image's size. "
    f"Default: scikit-image's sample {SAMPLE_STYLE}.")
_OUTPUT = flags.DEFINE_string(
    "output", config.OUTPUT, "Result image; format by extension (.png, .jpg).")
_IMAGE_SIZE = flags.DEFINE_integer(
    "image_size", config.IMAGE_SIZE,
    "Longest side of the result in px; 0 keeps the content image's size.")
_CONTENT_LAYERS = flags.DEFINE_list(
    "content_layers", _list(_DEFAULTS.content_layers), "Content layers.")
_CONTENT_LAYER_WEIGHTS = flags.DEFINE_list(
    "content_layer_weights", None,
    "One weight per content layer. Default: equal, summing to 1.")
_STYLE_LAYERS = flags.DEFINE_list(
    "style_layers", _list(_DEFAULTS.style_layers), "Style layers.")
_STYLE_LAYER_WEIGHTS = flags.DEFINE_list(
    "style_layer_weights", None,
    "One weight per style layer (w_l). Default: equal, summing to 1.")
_ALPHA = flags.DEFINE_float("alpha", _DEFAULTS.alpha, "Content loss weight.")
_BETA = flags.DEFINE_float("beta", _DEFAULTS.beta, "Style loss weight.")
_NUM_STEPS = flags.DEFINE_integer(
    "num_steps", _DEFAULTS.num_steps, "L-BFGS iterations.")
_INIT = flags.DEFINE_string(
    "init", _DEFAULTS.init,
    f"Starting image: {'|'.join(config.INIT_CHOICES)} or the path of an image. "
    "random is uniform noise in 0-255; white is a plain white image.")
_SAVE_PER_STEP = flags.DEFINE_integer(
    "save_per_step", config.SAVE_PER_STEP,
    "Save the current image every N iterations to --step_dir; -1: never.")
_STEP_DIR = flags.DEFINE_string(
    "step_dir", None,
    "Folder for intermediate images. Default: <output name>_steps beside --output.")
_POOLING = flags.DEFINE_enum(
    "pooling", _DEFAULTS.pooling, list(vgg.POOLING_CHOICES),
    "VGG19 pooling; the paper uses avg.")
_LOSS_CONVENTION = flags.DEFINE_enum(
    "loss_convention", _DEFAULTS.loss_convention, list(config.LOSS_CONVENTIONS),
    "paper: 1/2 sum((F-P)^2) and 1/(4N^2M^2) sum((G-A)^2), as printed; authors: "
    "mean((F-P)^2) and mean((G/M-A/M)^2), as in the authors' code (see README).")
_NORMALIZE_VGG = flags.DEFINE_bool(
    "normalize_vgg", _DEFAULTS.normalize_vgg,
    "Use the paper's normalised VGG19: each filter rescaled to mean activation 1 over "
    "--normalize_images (computed once, cached beside the weights; see README).")
_NORMALIZE_IMAGES = flags.DEFINE_string(
    "normalize_images", None,
    "Folder (or comma list) of natural images for --normalize_vgg. Default: "
    "$NST_IMAGES_DIR.")
_LINE_SEARCH = flags.DEFINE_enum(
    "line_search", _DEFAULTS.line_search, list(config.LINE_SEARCHES),
    "unit_first: try L-BFGS's natural step, else Hager-Zhang (about 1.05 evaluations "
    "an iteration); hager_zhang: exactly tfp's lbfgs_minimize (about 3).")
_PRECISION = flags.DEFINE_enum(
    "precision", _DEFAULTS.precision, list(vgg.PRECISION_POLICIES),
    "Network compute precision; bfloat16 is faster on CPUs with AVX512-BF16/AMX and on "
    "GPUs (L-BFGS state and losses stay float32; see README for its quality check).")
_SEED = flags.DEFINE_integer(
    "seed", _DEFAULTS.seed, "Seed of the random init (same seed, same result on CPU).")
_NUM_CORRECTION_PAIRS = flags.DEFINE_integer(
    "num_correction_pairs", _DEFAULTS.num_correction_pairs,
    "L-BFGS history length (correction pairs kept).")
_VGG_WEIGHTS = flags.DEFINE_string(
    "vgg_weights", None,
    f"Path of {weights_lib.FILENAME}. Default: vgg/ (or $NST_VGG_DIR), then "
    "Keras's cache.")
_OVERWRITE = flags.DEFINE_bool(
    "overwrite", False, "Replace an existing --output (and its record and plot).")
_RESUME = flags.DEFINE_bool(
    "resume", False,
    "Continue an interrupted run from the checkpoint beside --output (same flags).")
_PLOT = flags.DEFINE_bool(
    "plot", True, "Write a loss-curve plot (<output name>_loss.png) beside --output.")
_REPORT_EVERY = flags.DEFINE_integer(
    "report_every", config.REPORT_EVERY,
    "Iterations between progress lines (--save_per_step sets it when given).")


def _floats(values, flag):
  if values is None:
    return None
  try:
    return tuple(float(v) for v in values)
  except ValueError:
    raise UserError(f"{flag}: {','.join(values)!r} is not a comma list of numbers"
                    ) from None


def _sample(name):
  import importlib.resources
  return str(importlib.resources.files("skimage") / "data" / name)


def settings_from_flags():
  return config.Settings(
      alpha=_ALPHA.value,
      beta=_BETA.value,
      content_layers=tuple(_CONTENT_LAYERS.value),
      content_layer_weights=_floats(_CONTENT_LAYER_WEIGHTS.value,
                                    "--content_layer_weights"),
      style_layers=tuple(_STYLE_LAYERS.value),
      style_layer_weights=_floats(_STYLE_LAYER_WEIGHTS.value, "--style_layer_weights"),
      pooling=_POOLING.value,
      init=_INIT.value,
      seed=_SEED.value,
      num_steps=_NUM_STEPS.value,
      num_correction_pairs=_NUM_CORRECTION_PAIRS.value,
      loss_convention=_LOSS_CONVENTION.value,
      normalize_vgg=_NORMALIZE_VGG.value,
      line_search=_LINE_SEARCH.value,
      precision=_PRECISION.value,
  ).validate()


def prepare():
  """Check every input before any slow work; return what the run needs."""
  settings = settings_from_flags()
  if _IMAGE_SIZE.value < 0:
    raise UserError(f"--image_size must be >= 0 (0 keeps the content image's size), "
                    f"got {_IMAGE_SIZE.value}")
  if _SAVE_PER_STEP.value == 0 or _SAVE_PER_STEP.value < -1:
    raise UserError(f"--save_per_step must be a positive number of iterations or -1 "
                    f"(never), got {_SAVE_PER_STEP.value}")
  if _REPORT_EVERY.value < 1:
    raise UserError(f"--report_every must be at least 1, got {_REPORT_EVERY.value}")

  content_path = _CONTENT_IMAGE.value or _sample(SAMPLE_CONTENT)
  style_path = _STYLE_IMAGE.value or _sample(SAMPLE_STYLE)
  def check_shape(shape):
    settings.check_image_shape(shape)
    _check_memory(settings, shape)

  content, style = image_lib.load_pair(
      content_path, style_path, _IMAGE_SIZE.value, check_shape=check_shape,
      min_side=vgg.min_image_side(settings.layers()))
  shape = content.shape[:2]
  init = settings.init
  if init not in config.INIT_CHOICES:
    if not os.path.exists(init):
      raise UserError(f"--init: {init!r} is neither one of "
                      f"{'|'.join(config.INIT_CHOICES)} nor an image file; check it")
    init = image_lib.load_resized(init, shape, "--init")

  image_lib.check_output_path(_OUTPUT.value)
  step_dir = None
  if _SAVE_PER_STEP.value > 0:
    step_dir = _STEP_DIR.value or os.path.splitext(_OUTPUT.value)[0] + "_steps"
    ensure_writable_dir(step_dir, "--step_dir")
  weights_path = weights_lib.resolve(_VGG_WEIGHTS.value)
  normalize_source = (normalize.default_source(_NORMALIZE_IMAGES.value)
                      if settings.normalize_vgg else None)
  _check_existing_outputs(_OUTPUT.value)
  return dict(settings=settings, content=content, style=style, init=init,
              content_path=content_path, style_path=style_path,
              weights_path=weights_path, normalize_source=normalize_source,
              step_dir=step_dir)


def _check_existing_outputs(output):
  """Never overwrite a result by accident; a checkpoint means --resume is wanted."""
  out = records.paths(output)
  if _RESUME.value:
    if not os.path.isfile(out["checkpoint"]):
      raise UserError(f"--resume: no checkpoint {out['checkpoint']!r} (one is written "
                      "when a run is interrupted); run without --resume")
    return
  if _OVERWRITE.value:
    return
  if os.path.exists(out["checkpoint"]):
    raise UserError(f"--output: an interrupted run left {out['checkpoint']!r}; add "
                    "--resume to finish it, or --overwrite to start again")
  for kind in ("image", "record", "plot"):
    if os.path.exists(out[kind]):
      raise UserError(f"--output: {out[kind]!r} exists; pass --overwrite to replace "
                      "it, or choose another --output")


def _duration(seconds):
  if seconds is None:
    return "?"
  seconds = int(round(seconds))
  return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def progress_line(it):
  return (f"step {it.iteration:>{len(str(it.num_steps))}}/{it.num_steps}  "
          f"evals {it.evaluations:>5}  content {it.losses['content']:.4e}  "
          f"style {it.losses['style']:.4e}  total {it.losses['total']:.4e}  "
          f"elapsed {_duration(it.elapsed)}  eta {_duration(it.eta)}")


def _import_engine():
  """Import TensorFlow and the engine; return (optimize module, device in words).

  Imported only after the input checks, so that bad input is reported in a fraction of
  a second. TensorFlow 2.21 writes C++ log lines to stderr while it loads and probes
  for CUDA that TF_CPP_MIN_LOG_LEVEL does not silence; they are hidden here, and the
  device actually used is named instead.
  """
  saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
  os.dup2(devnull, 2)
  try:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from nst import optimize  # pylint: disable=g-import-not-at-top
    gpus = tf.config.list_physical_devices("GPU")
  finally:
    os.dup2(saved, 2)
    os.close(saved)
    os.close(devnull)
  device = f"GPU ({len(gpus)} found, using {gpus[0].name})" if gpus else "CPU"
  return optimize, device


class Terminated(BaseException):
  """Raised from the SIGTERM handler, so a run killed politely saves its work."""


def _raise_terminated(signum, frame):
  del signum, frame
  raise Terminated()


EXIT_NON_FINITE = 3
EXIT_SIGINT = 130   # the shell's codes for a process ended by SIGINT / SIGTERM
EXIT_SIGTERM = 143
CHECKPOINT_EVERY = 10  # iterations per compiled chunk: what an interrupt can lose


def _check_memory(settings, shape):
  """Refuse, before any work, a size whose estimated peak memory this machine lacks.

  This is host memory, what a CPU run needs; on a GPU, TensorFlow's allocator reports
  running out of GPU memory itself.
  """
  available = memory.available_bytes()
  needed = memory.estimate_bytes(shape, settings.layers(), settings.num_correction_pairs)
  if available is not None and needed > available:
    side = memory.largest_fitting_side(shape, settings.layers(),
                                       settings.num_correction_pairs, available)
    raise UserError(
        f"--image_size: a {shape[1]}x{shape[0]} px run needs about {needed / 2**30:.1f} "
        f"GiB but {available / 2**30:.1f} GiB is available; the largest that fits is "
        f"--image_size={side}")


def _record_flags():
  return {f.name: f.value for f in flags.FLAGS.get_flags_for_module(__name__)}


def _reproducing_argv(values):
  """Flags that rebuild this run: every nst flag that has a value."""
  argv = []
  for name, value in sorted(values.items()):
    if value is None or name in ("output", "overwrite", "resume"):
      continue
    if isinstance(value, bool):
      argv.append(f"--{name}" if value else f"--no{name}")
    elif isinstance(value, list):
      argv.append(f"--{name}={','.join(str(v) for v in value)}")
    else:
      argv.append(f"--{name}={value!r}" if isinstance(value, float) else
                  f"--{name}={value}")
  return argv


class _Progress:
  """A tqdm bar on a terminal; one plain line per report otherwise (logs, CI)."""

  def __init__(self, num_steps, start_iteration, report_every):
    self.report_every = report_every
    self.bar = None
    if sys.stdout.isatty():
      from tqdm import tqdm  # pylint: disable=g-import-not-at-top
      self.bar = tqdm(total=num_steps, initial=start_iteration, unit="it",
                      dynamic_ncols=True)

  def show(self, it):
    if self.bar is not None:
      self.bar.update(it.iteration - self.bar.n)
      self.bar.set_postfix_str(
          f"evals {it.evaluations} content {it.losses['content']:.3e} "
          f"style {it.losses['style']:.3e} total {it.losses['total']:.3e}")
    elif it.iteration % self.report_every == 0 or it.finished:
      print(progress_line(it), flush=True)

  def close(self):
    if self.bar is not None:
      self.bar.close()


def run(prepared):
  """Optimise, show progress and write every output; return the exit code."""
  optimize, device = _import_engine()
  settings = prepared["settings"]
  content, style = prepared["content"], prepared["style"]
  shape = content.shape[:2]
  out = records.paths(_OUTPUT.value)
  meta = {"settings": records.settings_dict(settings), "shape": list(shape),
          "content_image": prepared["content_path"],
          "style_image": prepared["style_path"]}
  meta["settings"].pop("num_steps")  # a resumed run may be given more steps
  state, elapsed, history = None, 0.0, []
  if _RESUME.value:
    arrays, saved = records.load_checkpoint(out["checkpoint"], meta)
    state = optimize.state_from_arrays(arrays)
    elapsed, history = saved["elapsed"], saved["history"]

  height, width = shape
  print(f"nst: {prepared['content_path']} in the style of {prepared['style_path']}, "
        f"{width}x{height} px, {settings.num_steps} L-BFGS iterations, "
        f"alpha={settings.alpha:g} beta={settings.beta:g}, on {device}", flush=True)
  conv_weights, normalization = normalize.network_weights(
      prepared["weights_path"], settings, prepared["normalize_source"])
  problem = optimize.Problem(content, style, settings, vgg_weights=conv_weights)
  x0 = None if state is not None else optimize.initial_image(
      prepared["init"], content, style, settings.seed)
  save_every = _SAVE_PER_STEP.value
  report_every = save_every if save_every > 0 else _REPORT_EVERY.value
  chunk = math.gcd(report_every, save_every if save_every > 0 else 0, CHECKPOINT_EVERY)

  progress = _Progress(settings.num_steps, history[-1]["iteration"] if history else 0,
                       report_every)
  last, stopped, exit_code = None, None, 0
  signal.signal(signal.SIGTERM, _raise_terminated)
  try:
    for it in optimize.stylize(problem, x0, report_every=chunk, state=state,
                               elapsed=elapsed):
      if not it.finite:
        stopped, exit_code = "non_finite", EXIT_NON_FINITE
        break
      last = it
      if not history or history[-1]["iteration"] != it.iteration:
        history.append(records.history_entry(it))
      progress.show(it)
      if (prepared["step_dir"] and 0 < it.iteration and not it.finished
          and it.iteration % save_every == 0):
        image_lib.save_image(os.path.join(prepared["step_dir"],
                                          f"step_{it.iteration:05d}.png"), it.image)
  except KeyboardInterrupt:
    stopped, exit_code = "interrupted", EXIT_SIGINT
  except Terminated:
    stopped, exit_code = "interrupted", EXIT_SIGTERM
  finally:
    progress.close()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

  if last is None or (stopped == "non_finite" and last.iteration == 0):
    reason = ("the loss or its gradient is not finite at the start"
              if stopped == "non_finite" else "interrupted before the first step")
    print(f"nst: {reason}; nothing was written" + _NON_FINITE_HINT * (
        stopped == "non_finite"), file=sys.stderr)
    return exit_code or 1
  if stopped is None:
    stopped = ("num_steps" if last.iteration >= last.num_steps else
               "converged" if last.converged else "line_search")
  partial = stopped in ("interrupted", "non_finite")

  image_lib.save_image(out["image"], last.image)
  values = _record_flags()
  result = dict(iterations=last.iteration, evaluations=last.evaluations,
                seconds=round(last.elapsed, 3), losses=last.losses, stopped=stopped,
                partial=partial, image=os.path.abspath(out["image"]))
  if _PLOT.value:
    plot = plot_lib.loss_curves(history, settings.alpha, settings.beta,
                                title=os.path.basename(out["image"]))
    result["plot"] = os.path.abspath(image_lib.save_image(out["plot"], plot))
  records.write_record(out["record"], records.make_record(
      argv=_reproducing_argv(values), flags=values, settings=settings,
      images={"content": prepared["content_path"], "style": prepared["style_path"]},
      shape=shape, weights={"path": str(prepared["weights_path"]),
                            "md5": weights_lib.MD5, "normalization": normalization},
      device=device, history=history, result=result))

  if stopped == "interrupted":
    records.save_checkpoint(out["checkpoint"], optimize.state_to_arrays(last.state),
                            dict(meta, elapsed=last.elapsed, history=history))
    print(f"\nnst: interrupted at step {last.iteration}/{last.num_steps}; partial image "
          f"{os.path.abspath(out['image'])}, checkpoint "
          f"{os.path.abspath(out['checkpoint'])}; add --resume to the same command to "
          "finish it", file=sys.stderr)
    return exit_code
  if stopped == "non_finite":
    print(f"nst: stopped at step {last.iteration + 1}: the loss or its gradient is not "
          f"finite; kept the last finite image (step {last.iteration}) in "
          f"{os.path.abspath(out['image'])}" + _NON_FINITE_HINT, file=sys.stderr)
    return exit_code
  if os.path.exists(out["checkpoint"]):
    os.remove(out["checkpoint"])  # the run it belonged to is complete
  if stopped == "converged":
    print(f"nst: converged after {last.iteration} iterations (zero gradient or step)")
  elif stopped == "line_search":
    print(f"nst: stopped after {last.iteration} iterations: the line search found no "
          "further decrease")
  per_layer = ", ".join(f"{layer} {value:.4e}" for layer, value in
                        {**last.losses["content_layers"],
                         **last.losses["style_layers"]}.items())
  print(f"nst: per-layer losses: {per_layer}")
  print(f"nst: {last.iteration} iterations, {last.evaluations} evaluations in "
        f"{last.elapsed:.1f} s; wrote {os.path.abspath(out['image'])} and its record "
        f"{os.path.abspath(out['record'])}", flush=True)
  return 0


_NON_FINITE_HINT = (". Likely causes: an alpha or beta so large the loss overflows "
                    "float32 (try a smaller ratio), or a corrupt weights file (run "
                    "nst-fetch-weights again)")


def main(argv):
  if len(argv) > 1:
    _fail(f"unexpected arguments {' '.join(argv[1:])!r}; every option is a --flag "
          "(see --help)")
  try:
    prepared = prepare()
    code = run(prepared)
  except UserError as e:
    _fail(str(e))
  sys.exit(code)


def _fail(message):
  print(f"nst: error: {message}", file=sys.stderr)
  sys.exit(UserError.exit_code)


def parse_flags(argv):
  """absl's parser, but a bad flag is one line and exit code 2 (not a usage dump)."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    _fail(f"{e}; see --help")


def run_main():
  app.run(main, flags_parser=parse_flags)


if __name__ == "__main__":
  run_main()
