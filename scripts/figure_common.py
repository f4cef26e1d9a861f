"""Flags and the main routine that every figure script shares."""

import logging
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags

from nst.runs import batch
from nst.cli import common as entry

from nst.runs import executors
from nst.runs import figures
from nst import interrupts
from nst import phases
from nst.cli import serve_flags
from nst.engine import weights as weights_lib
from nst.errors import UserError

QUICK_IMAGE_SIZE = 48   # what CI runs: small enough for seconds per cell
QUICK_NUM_STEPS = 20
FULL_IMAGE_SIZE = 512   # the paper's
FULL_NUM_STEPS = 1000   # the 2016 paper's figures
# The 2017 controls (colour, spatial, scale): the authors' notebooks run 500
# iterations at 512 px (ColourControl, SpatialControl, ScaleControl: max_iter = 500).
CONTROL_NUM_STEPS = 500
_FULL = {"num_steps": FULL_NUM_STEPS}  # the running figure's (main's argument)

CONTENT = "content/tubingen.jpg"
STYLES = {
    "shipwreck": "style/shipwreck.jpg",
    "starry_night": "style/starry_night.jpg",
    "scream": "style/scream.jpg",
    "femme_nue_assise": "style/femme_nue_assise.jpg",
    "composition_vii": "style/composition_vii.jpg",
}

OUTPUT_DIR = flags.DEFINE_string("output_dir", None,
                                 "Where the images, records and sheet go. "
                                 "Default: out/<figure>.")
IMAGES_DIR = flags.DEFINE_string(
    "images_dir", None,
    f"Folder with content/ and style/ reference images. Default: "
    f"${figures.IMAGES_DIR_ENV}.")
IMAGE_SIZE = flags.DEFINE_integer(
    "image_size", None,
    f"Longest side in px. Default: {FULL_IMAGE_SIZE}, or {QUICK_IMAGE_SIZE} "
    "with --quick.")
NUM_STEPS = flags.DEFINE_integer(
    "num_steps", None,
    f"L-BFGS iterations per cell. Default: {FULL_NUM_STEPS} for the 2016 paper's "
    f"figures, {CONTROL_NUM_STEPS} for the 2017 controls (as the authors' notebooks), "
    f"or {QUICK_NUM_STEPS} with --quick.")
QUICK = flags.DEFINE_bool("quick", False, "Small images and few iterations (CI).")
OVERWRITE = flags.DEFINE_bool(
    "overwrite", False, "Run every cell again, even those already done.")
SEED = flags.DEFINE_integer("seed", 0, "Seed of the noise inits.")
VGG_WEIGHTS = flags.DEFINE_string("vgg_weights", None, "Path of the VGG19 weights.")
EXECUTOR = flags.DEFINE_enum(
    "executor", "local", ["local", "ray"],
    "local: cells one after another here; ray: one Ray task per cell, as nst-batch "
    "(pip install -e \".[ray]\"; see README, Batches and sweeps).")
RAY_ADDRESS = flags.DEFINE_string(
    "ray_address", None, "With --executor=ray: a running cluster (auto, or "
    "ray://host:10001). Default: start a local instance.")
RAY_NUM_CPUS = flags.DEFINE_integer(
    "ray_num_cpus", None, "CPUs of the local Ray instance (cells at once). Default: "
    "all.")
serve_flags.define(flags)  # --serve: watch the cells in a browser (README)


def image_size():
  if IMAGE_SIZE.value is not None:
    return IMAGE_SIZE.value
  return QUICK_IMAGE_SIZE if QUICK.value else FULL_IMAGE_SIZE


def num_steps():
  if NUM_STEPS.value is not None:
    return NUM_STEPS.value
  return QUICK_NUM_STEPS if QUICK.value else _FULL["num_steps"]


def output_dir(name):
  return OUTPUT_DIR.value or os.path.join("out", name)


def numbers(flag, kind=float):
  """A list flag's values as numbers of `kind`, or a UserError naming the flag."""
  try:
    return [kind(v) for v in flag.value]
  except ValueError:
    raise UserError(f"--{flag.name}: {','.join(flag.value)!r} is not a list of "
                    f"{kind.__name__}s") from None


def make_executor():
  """The executor --executor asks for (close it when done)."""
  return executors.make_executor(EXECUTOR.value, RAY_ADDRESS.value, RAY_NUM_CPUS.value)


def start_live(name):
  """The live page --serve asks for, or None; call once the inputs are checked."""
  return serve_flags.from_flags(flags.FLAGS, name)


def run(name, build, summarize=None):
  """Run figure `name`: `build(images_dir)` -> (cells, layout dict for write_figure).
  `summarize(records, output_dir, layout)`, if given, sees the cells' summaries once
  they are done (to caption them, or add to layout["extra"]) before the sheet is
  drawn."""
  start = time.perf_counter()
  try:
    phases.enter("inputs")
    folder = figures.images_dir(IMAGES_DIR.value)
    if image_size() < 16 or num_steps() < 1:
      raise UserError("--image_size must be >= 16 and --num_steps >= 1")
    weights_path = weights_lib.resolve(VGG_WEIGHTS.value)
    cells, layout = build(folder)
    executor, live = make_executor(), start_live(name)
  except UserError as e:
    print(f"{name}: error: {e}", file=sys.stderr)
    sys.exit(UserError.exit_code)
  except interrupts.INTERRUPTS as e:
    print(f"{name}: interrupted while {phases.words('inputs')}; nothing was run",
          file=sys.stderr)
    sys.exit(interrupts.exit_code(e))
  folder_out = output_dir(name)
  # Cells with normalize_vgg take the factors from the reference images.
  try:
    records = figures.run_cells(cells, folder_out, weights_path, OVERWRITE.value,
                                normalize_source=figures.reference_images(folder),
                                executor=executor, live=live)
  except UserError as e:  # cells that failed on the executor (the others are kept)
    print(f"{name}: error: {e}", file=sys.stderr)
    sys.exit(1)
  except interrupts.INTERRUPTS as e:
    print(f"{name}: interrupted; the finished cells and the interrupted one's "
          f"checkpoint are kept in {os.path.abspath(folder_out)}; run the same command "
          "again to continue", file=sys.stderr)
    sys.exit(interrupts.exit_code(e))
  finally:
    executor.close()
    if live is not None:
      live.linger(flags.FLAGS.serve_linger)
  try:
    _write(name, folder, records, folder_out, layout, summarize, start)
  except interrupts.INTERRUPTS as e:
    print(f"{name}: interrupted while drawing the figure; every cell is kept in "
          f"{os.path.abspath(folder_out)}; run the same command again to draw it",
          file=sys.stderr)
    sys.exit(interrupts.exit_code(e))


def _write(name, folder, records, folder_out, layout, summarize, start):
  """The figure's sheet and JSON from its cells' records."""
  if summarize is not None:
    summarize(records, folder_out, layout)
  # A figure's own extra values win (e.g. high_res.py's final size).
  extra = {"image_size": image_size(), "num_steps": num_steps(),
           "images_dir": os.path.abspath(folder), **layout.pop("extra", {})}
  sheet, record = figures.write_figure(
      name, records, folder_out, extra=extra,
      wall_seconds=time.perf_counter() - start, **layout)
  print(f"{name}: wrote {os.path.abspath(sheet)} and {os.path.abspath(record)}")


def main(run_figure, full_num_steps=FULL_NUM_STEPS):
  """Run `run_figure()` as the program; `full_num_steps`: --num_steps's default
  without --quick."""
  _FULL["num_steps"] = full_num_steps
  interrupts.install()  # SIGTERM as Ctrl-C: the running cell keeps its checkpoint
  entry.list_in_help(__name__, serve_flags.__name__)
  # Each cell is a new problem, so TensorFlow's "retracing" warnings are expected.
  logging.getLogger("tensorflow").setLevel(logging.ERROR)
  app.run(lambda argv: _interruptible(run_figure))


def _interruptible(run_figure):
  """run_figure(), a signal that reaches this far (a script's own loop, as
  presets.py has) one line and exit 130 / 143; the cells it ran are kept."""
  try:
    run_figure()
  except interrupts.INTERRUPTS as e:
    name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    print(f"{name}: interrupted; the finished cells and the interrupted one's "
          "checkpoint are kept; run the same command again to continue",
          file=sys.stderr)
    sys.exit(interrupts.exit_code(e))
