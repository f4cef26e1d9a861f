"""`nst`: stylise a photograph with an artwork (Gatys, Ecker & Bethge, CVPR 2016).

With no image flags it runs on two sample images that scikit-image ships: Chelsea the
cat (CC0) in the style of an immunohistochemistry micrograph (no known copyright
restrictions), so a fresh install can be tried offline.
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ logs quiet

# pylint: disable=g-import-not-at-top
from absl import app
from absl import flags

from nst import config
from nst import image as image_lib
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
    "pooling", _DEFAULTS.pooling, ["avg", "max"],
    "VGG19 pooling; the paper uses avg.")
_SEED = flags.DEFINE_integer(
    "seed", _DEFAULTS.seed, "Seed of the random init (same seed, same result on CPU).")
_NUM_CORRECTION_PAIRS = flags.DEFINE_integer(
    "num_correction_pairs", _DEFAULTS.num_correction_pairs,
    "L-BFGS history length (correction pairs kept).")
_VGG_WEIGHTS = flags.DEFINE_string(
    "vgg_weights", None,
    f"Path of {weights_lib.FILENAME}. Default: vgg/ (or $NST_VGG_DIR), then "
    "Keras's cache.")
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
  content, style = image_lib.load_pair(content_path, style_path, _IMAGE_SIZE.value)
  shape = content.shape[:2]
  settings.check_image_shape(shape)
  init = settings.init
  if init not in config.INIT_CHOICES:
    if not os.path.exists(init):
      raise UserError(f"--init: {init!r} is neither one of "
                      f"{'|'.join(config.INIT_CHOICES)} nor an image file; check it")
    init = image_lib.resize(image_lib.load_image(init, "--init"), shape)

  image_lib.check_output_path(_OUTPUT.value)
  step_dir = None
  if _SAVE_PER_STEP.value > 0:
    step_dir = _STEP_DIR.value or os.path.splitext(_OUTPUT.value)[0] + "_steps"
    ensure_writable_dir(step_dir, "--step_dir")
  weights_path = weights_lib.resolve(_VGG_WEIGHTS.value)
  return dict(settings=settings, content=content, style=style, init=init,
              content_path=content_path, style_path=style_path,
              weights_path=weights_path, step_dir=step_dir)


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


def run(prepared):
  optimize, device = _import_engine()
  settings = prepared["settings"]
  content, style = prepared["content"], prepared["style"]
  height, width = content.shape[:2]
  print(f"nst: {prepared['content_path']} in the style of {prepared['style_path']}, "
        f"{width}x{height} px, {settings.num_steps} L-BFGS iterations, "
        f"alpha={settings.alpha:g} beta={settings.beta:g}, on {device}", flush=True)
  problem = optimize.Problem(content, style, settings, prepared["weights_path"])
  x0 = optimize.initial_image(prepared["init"], content, style, settings.seed)
  every = _SAVE_PER_STEP.value if _SAVE_PER_STEP.value > 0 else _REPORT_EVERY.value
  final = None
  for it in optimize.stylize(problem, x0, report_every=every):
    print(progress_line(it), flush=True)
    if prepared["step_dir"] and it.iteration > 0 and not it.finished:
      image_lib.save_image(
          os.path.join(prepared["step_dir"], f"step_{it.iteration:05d}.png"), it.image)
    final = it
  if final.converged:
    print(f"nst: converged after {final.iteration} iterations (zero gradient or step)")
  elif final.failed and final.iteration < final.num_steps:
    print(f"nst: stopped after {final.iteration} iterations: the line search found no "
          "further decrease")
  image_lib.save_image(_OUTPUT.value, final.image)
  per_layer = ", ".join(f"{layer} {value:.4e}" for layer, value in
                        {**final.losses["content_layers"],
                         **final.losses["style_layers"]}.items())
  print(f"nst: per-layer losses: {per_layer}")
  print(f"nst: {final.iteration} iterations, {final.evaluations} evaluations in "
        f"{final.elapsed:.1f} s; wrote {os.path.abspath(_OUTPUT.value)}", flush=True)


def main(argv):
  if len(argv) > 1:
    _fail(f"unexpected arguments {' '.join(argv[1:])!r}; every option is a --flag "
          "(see --help)")
  try:
    prepared = prepare()
  except UserError as e:
    _fail(str(e))
  try:
    run(prepared)
  except KeyboardInterrupt:
    print(f"\nnst: interrupted; {_OUTPUT.value} was not written", file=sys.stderr)
    sys.exit(130)  # the shell's code for SIGINT


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
