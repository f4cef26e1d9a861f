"""One run at one scale: prepare (check every input before any slow work; TensorFlow
is not even imported), then execute (the network, the problem, L-BFGS, every
iterate to a callback) and write its outputs through outputs.py.

It knows nothing of coarse-to-fine levels or of combining two artworks' scales:
those are runs built on this one (levels.py, combined.py), and plan.py picks which
a request needs. The `nst` command, the Python API and the figure scripts reach it
through plan.py.
"""

import contextlib
import dataclasses
import json
import math
import os
import sys

import numpy as np

from nst import config
from nst import image as image_lib
from nst import interrupts
from nst import phases
from nst.control import color
from nst.control import scale_combination
from nst.control import spatial
from nst.engine import evalmode
from nst.engine import memory
from nst.engine import normalize
from nst.engine import vgg
from nst.engine import weights as weights_lib
from nst.errors import UserError, flag, subject
from nst.files import ensure_writable_dir
from nst.files import remove_stale_parts
from nst.files import same_file
from nst.runs import outputs
from nst.runs import records

CHECKPOINT_EVERY = 10  # iterations per compiled chunk: what an interrupt can lose
EXIT_NON_FINITE = 3
EXIT_SIGINT = interrupts.EXIT_SIGINT    # 130, 143: interrupts.py has the mapping
EXIT_SIGTERM = interrupts.EXIT_SIGTERM
Terminated = interrupts.Terminated
ARRAY = "<array>"      # what the record says where an image was given as an array


class RunError(Exception):
  """A run that wrote nothing, for a reason other than bad input (a loss that is not
  finite at the start, an interruption before the first step); has an exit code."""

  def __init__(self, message, exit_code):
    super().__init__(message)
    self.exit_code = exit_code


NOTHING_KEPT = "before the first step; nothing was written"


def interrupted(error, kept=NOTHING_KEPT):
  """The RunError of an interruption (`error`: KeyboardInterrupt or Terminated) in
  the current phase, saying what was `kept`; exit code 130 or 143. Its
  `nothing_written` says whether it kept nothing."""
  run_error = RunError(f"interrupted while {phases.words()}, {kept}",
                       interrupts.exit_code(error))
  run_error.nothing_written = kept == NOTHING_KEPT
  return run_error


def is_interruption(error):
  """Whether `error` (a RunError or anything else) is an interruption's."""
  return isinstance(error, RunError) and error.exit_code in (EXIT_SIGINT,
                                                             EXIT_SIGTERM)


@dataclasses.dataclass
class Prepared:
  """A run's checked inputs: everything `execute` needs, nothing slow done yet."""
  options: dict           # every option, resolved (OPTIONS < preset < given)
  preset: str
  settings: config.Settings
  content: np.ndarray     # float RGB 0-255 at the run's size
  styles: list            # float RGB 0-255 arrays, one per artwork
  init: object            # one of config.INIT_CHOICES, or an RGB array
  sources: dict           # {"content": path or None, "style": [path or None, ...]}
  photograph: np.ndarray = None  # the content image before colour control
  output: str = None
  step_dir: str = None
  weights_path: str = None
  normalize_source: str = None
  guides: tuple = None    # spatial control: optimize.Problem's `guides`, or None
  artworks: list = None   # the artworks as read, before resizing (float RGB 0-255)
  # An extra pixel-space loss term, optimize.Problem's `temporal` (nst.video sets it
  # per frame: the previous stylised frame warped, its weights, --temporal_weight).
  temporal: tuple = None

  @property
  def shape(self):
    return self.content.shape[:2]

  @property
  def paths(self):
    return records.paths(self.output) if self.output else None


@dataclasses.dataclass
class Result:
  """What a run gives back: the image (HxWx3 uint8) and its record (the dict the CLI
  writes as JSON), the last iterate, why it stopped and the files written."""
  image: np.ndarray
  record: dict
  last: object            # optimize.Iterate
  stopped: str            # num_steps | converged | line_search | interrupted | non_finite
  paths: dict = None      # image, record, plot, checkpoint when an output was given
  # 130 / 143 when a signal stopped the run, or came while its outputs were written
  # (they were completed first: the run may be whole, and it is still a signal's).
  signal_exit_code: int = 0

  @property
  def partial(self):
    return self.stopped in ("interrupted", "non_finite")

  @property
  def interrupted(self):
    return self.stopped == "interrupted" or bool(self.signal_exit_code)

  @property
  def exit_code(self):
    if self.interrupted:
      return self.signal_exit_code or EXIT_SIGINT
    return EXIT_NON_FINITE if self.stopped == "non_finite" else 0


def prepare(content, style, output=None, *, preset=None, options, also_writes=None,
            also_reads=(), check_sizes=None, check_existing=True,
            layers_side=None):
  """Check every input of a one-scale run and return its Prepared; UserError on
  anything wrong. `options`: every option, resolved (config.resolve_options).

  What a run built on this one adds (runs/plan.py): `also_writes` ({path: what}) and
  `also_reads` ([(option, path)]), the other files the whole run writes and reads
  (never one onto the other); `check_sizes(settings, content_shape, eval_mode)`, a
  refusal of sizes before the images are read further; `check_existing=False` when
  it checks the existing outputs and checkpoint itself; `layers_side` (px), a
  longest side whose --style_min_positions layers the run keeps where it is smaller
  than the run's own (a level larger than its run's result keeps the result's).
  """
  phases.enter("inputs")
  init = options["init"]
  # An array start is not a setting that can be written down: the record says ARRAY.
  settings = config.settings_from_options(
      dict(options, init=ARRAY) if isinstance(init, np.ndarray) else options)
  _check_run_options(options)
  if options["image_size"] < 0:
    raise UserError(f"{flag('image_size')} must be >= 0 (0 keeps the content image's "
                    f"size), got {options['image_size']}", option="image_size")
  min_side = vgg.min_image_side(settings.layers())

  need = options["image_size"] or None  # the longest side the images are used at
  content_image, content_path = load(content, "content_image", need)
  check_min_side(content_image, min_side, "content_image", content_path)
  shape = image_lib.scaled_shape(content_image.shape, options["image_size"])
  # The refusal uses the plain estimate unless XLA was asked for: auto times XLA only
  # where its estimate fits (evalmode.choose).
  memory_mode = "xla" if options["eval_mode"] == "xla" else "plain"
  if check_sizes is not None:
    check_sizes(settings, content_image.shape, memory_mode)
  settings.check_image_shape(shape)  # by the layers given: relu5_1 needs 16 px
  # Then --style_min_positions leaves out the style layers too coarse for this run's
  # (level's) size; the options keep the layers given, so every level has its own.
  side = max(shape) if layers_side is None else min(max(shape), layers_side)
  settings = config.style_layers_for(settings, side, options["style_min_positions"])
  check_memory(settings, shape, memory_mode)
  style_list = style_items(style)
  settings.blend_weights(len(style_list))
  if settings.content_masks:
    spatial.check_counts(settings.content_masks, settings.style_masks, len(style_list))
  styles, style_paths, style_shapes, artworks = [], [], [], []
  for item in style_list:
    artwork, path = load(item, "style_image", style_need(need, settings))
    artworks.append(artwork)
    check_min_side(artwork, min_side, "style_image", path)
    styles.append(_style_at_scale(artwork, shape, settings, path))
    style_paths.append(path)
    style_shapes.append(artwork.shape)
  guides = _guides(settings, content_image.shape, shape, styles, style_shapes)
  content_image = image_lib.resize(content_image, shape)
  photograph = content_image
  content_image, styles = _color_controlled(content_image, styles, settings)

  if isinstance(init, np.ndarray):
    init = image_lib.resize(load(init, "init")[0], shape)
  elif init in DERIVED_STARTS:
    init = derived_start(init, content_image, styles, settings, shape)
  elif init not in config.INIT_CHOICES:
    if not os.path.exists(str(init)):
      raise UserError(f"{flag('init')}: {init!r} is neither one of "
                      f"{'|'.join(config.INIT_CHOICES)} nor an image file; check it",
                      option="init")
    init = image_lib.resize(image_lib.load_image(init, "init", max(shape)), shape)

  step_dir = None
  if output is not None:
    output = os.fspath(output)
    image_lib.check_output_path(output)
  if options["save_per_step"] > 0:
    step_dir = options["step_dir"] or (
        os.path.splitext(output)[0] + "_steps" if output else None)
    if step_dir is None:
      raise UserError(f"{flag('save_per_step')} needs somewhere to save: give an "
                      f"output or {flag('step_dir')}", option="save_per_step")
    ensure_writable_dir(step_dir, "step_dir")
  if options["resume"] and output is None:
    raise UserError(f"{flag('resume')} continues the run whose checkpoint lies beside "
                    "its output; give the same output as the interrupted run",
                    option="resume")
  weights_path = weights_lib.resolve(options["vgg_weights"])
  normalize_source = (normalize.default_source(options["normalize_images"])
                      if settings.normalize_vgg else None)
  if output is not None:
    _check_inputs_kept(
        dict(_written(output, step_dir), **(also_writes or {})),
        _inputs(content_path, style_paths, settings, options, weights_path)
        + list(also_reads))
    if check_existing:
      check_existing_outputs(output, options["resume"], options["overwrite"])
      if options["resume"]:  # a corrupt or foreign checkpoint: refused before TF
        check_checkpoint(records.paths(output)["checkpoint"], settings, shape,
                         content_path, style_paths)
  return Prepared(options=options, preset=preset or config.DEFAULT_PRESET,
                  settings=settings, content=content_image, styles=styles, init=init,
                  photograph=photograph,
                  sources={"content": content_path, "style": style_paths},
                  output=output, step_dir=step_dir, weights_path=weights_path,
                  normalize_source=normalize_source, guides=guides, artworks=artworks)


def style_items(style):
  """The artworks of a `style` argument: one, or a list of them; UserError if none."""
  style_list = list(style) if isinstance(style, (list, tuple)) else [style]
  if not style_list:
    raise UserError(f"{flag('style_image')}: no style image given; give at least one",
                    option="style_image")
  return style_list


def written(output, what="the run's"):
  """{path: what} of the files a run of `output` writes: image, record, plot,
  checkpoint (`what` names whose they are)."""
  kinds = {"image": "image", "record": "record", "plot": "loss plot",
           "checkpoint": "checkpoint"}
  return {path: f"{what} {kinds[kind]}" for kind, path in records.paths(output).items()}


def _written(output, step_dir):
  """{path: what} of every file this run writes, its step folder included."""
  paths = written(output)
  if step_dir:
    paths[step_dir] = "the step images' folder"
  return paths


def _inputs(content_path, style_paths, settings, options, weights_path):
  """[(option, path)] of every file a run reads."""
  inputs = [("content_image", content_path)]
  inputs += [("style_image", p) for p in style_paths]
  for option in ("content_masks", "style_masks"):
    inputs += [(option, spatial.parse(spec)[0])
               for spec in getattr(settings, option) if spec != spatial.WHOLE]
  if isinstance(options["init"], str) and options["init"] not in config.INIT_CHOICES:
    inputs.append(("init", options["init"]))
  inputs.append(("vgg_weights", weights_path))
  return [(option, path) for option, path in inputs if path]




def _check_inputs_kept(written, inputs):
  """Never write onto an input, whatever --overwrite says: one of the files the run
  writes (or a step image, in its step folder) may not be one it reads."""
  for option, source in inputs:
    for path, what in written.items():
      if what.endswith("folder"):
        hit = (outputs.STEP_IMAGE.fullmatch(os.path.basename(source))
               and same_file(os.path.dirname(os.path.abspath(source)), path))
        what = "a step image"
      else:
        hit = same_file(path, source)
      if hit:
        raise UserError(f"{flag('output')}: {path!r} ({what}) would replace "
                        f"{flag(option)} {source!r}; nst never writes onto its inputs, "
                        f"whatever {flag('overwrite')} says; choose another "
                        f"{flag('output')}", option="output")


def _checkpoint_meta(settings, shape, content_path, style_paths):
  """What a run's checkpoint must agree on with the run resuming it."""
  meta = {"settings": records.settings_dict(settings), "shape": list(shape),
          "content_image": content_path, "style_image": _joined(style_paths)}
  meta["settings"].pop("num_steps")  # a resumed run may be given more steps
  return meta


def check_checkpoint(path, settings, shape, content_path, style_paths):
  """--resume: the checkpoint readable, of a one-scale run and of these settings."""
  _, saved = records.read_checkpoint(path, shape[0] * shape[1] * 3)
  if "pyramid" in saved:
    raise _coarse_to_fine_checkpoint(path, saved)
  saved_precision = saved.get("settings", {}).get("precision")
  if settings.precision == "auto" and saved_precision in vgg.PRECISION_POLICIES:
    # auto is resolved only when the run starts (it needs the device); the run then
    # checks the checkpoint against the resolved precision.
    settings = dataclasses.replace(settings, precision=saved_precision)
  records.check_meta(path, saved, _checkpoint_meta(settings, shape, content_path,
                                                   style_paths))


def _coarse_to_fine_checkpoint(path, saved):
  """The UserError for resuming a coarse-to-fine run's checkpoint as a one-scale
  run's."""
  return UserError(f"{flag('resume')}: {path!r} is a coarse-to-fine run's; give its "
                   f"{flag('pyramid')}={saved['pyramid']}", option="resume")


def _guides(settings, content_shape, shape, styles, style_shapes):
  """Spatial control's masks (spatial.py), read and checked: the photograph's at the
  run's size, each artwork's at the size it is used at; None without content_masks."""
  if not settings.content_masks:
    return None
  content_masks = [spatial.load_mask(spec, shape, "content_masks", content_shape)
                   for spec in settings.content_masks]
  style_masks = [None] * len(styles)
  for i, spec in enumerate(settings.style_masks):
    if spec != spatial.WHOLE:
      style_masks[i] = spatial.load_mask(spec, styles[i].shape[:2], "style_masks",
                                         style_shapes[i])
  return content_masks, style_masks, settings.mask_propagation


def _color_controlled(content, styles, settings):
  """The images the optimisation sees under --color_control (color.py): luminance
  only (the artworks' matched to the photograph's mean and deviation), or the
  artworks with the photograph's colour mean and covariance."""
  if settings.color_control == "luminance":
    y = color.luminance(content)
    return color.as_gray_rgb(y), [
        color.as_gray_rgb(color.match_luminance(color.luminance(s), y)) for s in styles]
  if settings.color_control == "histogram":
    return content, [np.clip(color.histogram_match(s, content,
                                                   settings.histogram_match), 0, 255)
                     for s in styles]
  return content, styles


def with_style(prepared, artwork):
  """`prepared` with `artwork` (float RGB 0-255, any size) as its only artwork, in
  place of the one it was prepared with: resized as artworks are (_style_at_scale),
  under the run's colour control, and as the start if --init=style or
  content_recolored."""
  settings = prepared.settings
  style = _style_at_scale(artwork, prepared.shape, settings, None)
  _, styles = _color_controlled(prepared.photograph, [style], settings)
  init = derived_start(prepared.options["init"], prepared.content, styles, settings,
                       prepared.shape)
  return dataclasses.replace(prepared, styles=styles,
                             init=prepared.init if init is None else init)


DERIVED_STARTS = ("style", "content_recolored")


def derived_start(init, content, styles, settings, shape):
  """The start an --init keyword derives from the images the optimisation sees (under
  any colour control): "style", the first artwork at the output's size;
  "content_recolored", the photograph in the artworks' colours, by blend weight.
  None for any other --init."""
  if not isinstance(init, str) or init not in DERIVED_STARTS:
    return None
  if init == "style":
    return image_lib.resize(styles[0], shape)
  return color.recolored(content, styles, settings.blend_weights(len(styles)),
                         settings.histogram_match)


def style_source(prepared):
  """The record's images.style: the artworks' paths, ARRAY for one given as pixels."""
  return _joined(prepared.sources["style"]) or ARRAY


def final_image(prepared, image):
  """What is written of an iterate: under luminance control, its luminance with the
  photograph's colours (I and Q); else the iterate itself."""
  if prepared.settings.color_control != "luminance":
    return image
  return color.recombine(image, prepared.photograph)


def _check_run_options(options):
  if options["save_per_step"] == 0 or options["save_per_step"] < -1:
    raise UserError(f"{flag('save_per_step')} must be a positive number of iterations "
                    f"or -1 (never), got {options['save_per_step']}",
                    option="save_per_step")
  if options["style_min_positions"] < 0:
    raise UserError(f"{flag('style_min_positions')} must be >= 0 (0 keeps every style "
                    f"layer), got {options['style_min_positions']}",
                    option="style_min_positions")
  if options["report_every"] < 1:
    raise UserError(f"{flag('report_every')} must be at least 1, got "
                    f"{options['report_every']}", option="report_every")
  config.check_choice(options["eval_mode"], config.EVAL_MODES, "eval_mode")


def what(option, path, label=None):
  """How a message names the image of `option` (or `label`) read from `path`, or
  given as an array (path None)."""
  name = subject(option, label)
  return f"{name}: {path!r}" if path else f"{name}: the array"


def check_min_side(image, min_side, option, path):
  """`image` of `option` (from `path`, None for an array), unless its shortest side
  is under `min_side` px (image.check_min_side)."""
  return image_lib.check_min_side(image, min_side, what(option, path), option)


def style_need(need, settings):
  """The longest side an artwork is used at (None: unknown, the content's own)."""
  if need is None or settings.style_scale is None:
    return need
  return max(need, math.ceil(settings.style_scale * need))


def load(item, option, need=None, label=None):
  """(float RGB 0-255 image, its path or None) from a path or an array; a UserError
  of `option` names it (or `label`, e.g. a frame of a clip)."""
  name = subject(option, label)
  if isinstance(item, np.ndarray):
    if item.ndim not in (2, 3) or (item.ndim == 3 and item.shape[-1] not in (1, 3, 4)):
      raise UserError(f"{name}: an array of shape {item.shape} is not an image; give "
                      "an HxWx3 (or HxW) array", option=option)
    if not (np.issubdtype(item.dtype, np.number) or item.dtype == bool):
      raise UserError(f"{name}: an array of {item.dtype} is not an image; give "
                      "numbers in 0-255 (or floats in 0-1)", option=option)
    if not np.isfinite(item).all():
      raise UserError(f"{name}: the array has non-finite values; give pixel values "
                      "in 0-255 (or 0-1)", option=option)
    return image_lib.to_rgb(item, what(option, None, label), option), None
  if isinstance(item, (str, os.PathLike)):
    path = os.fspath(item)
    return image_lib.load_image(path, option, need, label), path
  raise UserError(f"{name}: give a path or an HxWx3 array, not {type(item).__name__}",
                  option=option)


def _style_at_scale(artwork, shape, settings, path):
  """The artwork at the output's exact size (style_scale None, as the original), or
  with its longest side style_scale times the output's, aspect kept."""
  if settings.style_scale is None:
    return image_lib.resize(artwork, shape)
  side = max(1, round(settings.style_scale * max(shape)))
  scaled = image_lib.scaled_shape(artwork.shape, side)
  style_layers = list(settings.style_weights()) or list(settings.style_layers)
  needed = vgg.min_image_side(style_layers) if style_layers else 1
  if min(scaled) < needed:
    raise UserError(f"{flag('style_scale')}={settings.style_scale:g} makes "
                    f"{what('style_image', path)} {scaled[1]}x{scaled[0]} px; the "
                    f"style layers need {needed} px on its shortest side; raise "
                    f"{flag('style_scale')}", option="style_scale")
  return image_lib.resize(artwork, scaled)


def check_memory(settings, shape, eval_mode):
  """Refuse, before any work, a size whose estimated peak memory this machine lacks.

  This is host memory, what a CPU run needs; on a GPU, TensorFlow's allocator reports
  running out of GPU memory itself.
  """
  available = memory.available_bytes()
  needed = memory.estimate_bytes(shape, settings.layers(), settings.num_correction_pairs,
                                 eval_mode)
  if available is not None and needed > available:
    side = memory.largest_fitting_side(shape, settings.layers(),
                                       settings.num_correction_pairs, available,
                                       eval_mode)
    raise UserError(
        f"{flag('image_size')}: a {shape[1]}x{shape[0]} px run needs about "
        f"{needed / 2**30:.1f} GiB but {available / 2**30:.1f} GiB is available; the "
        f"largest that fits is {flag('image_size')}={side}", option="image_size")


def check_existing_outputs(output, resume, overwrite):
  """Never overwrite a result by accident; a checkpoint means resume is wanted."""
  out = records.paths(output)
  if resume:
    if not os.path.isfile(out["checkpoint"]):
      raise UserError(f"{flag('resume')}: no checkpoint {out['checkpoint']!r} (one is "
                      f"written when a run is interrupted); run without "
                      f"{flag('resume')}", option="resume")
    return
  if overwrite:
    return
  if os.path.exists(out["checkpoint"]):
    raise UserError(f"{flag('output')}: an interrupted run left "
                    f"{out['checkpoint']!r}; add {flag('resume')} to finish it, or "
                    f"{flag('overwrite')} to start again", option="output")
  for kind in ("image", "record", "plot"):
    if os.path.exists(out[kind]):
      raise UserError(f"{flag('output')}: {out[kind]!r} exists; pass "
                      f"{flag('overwrite')} to replace it, or choose another "
                      f"{flag('output')}", option="output")


def done_before(prepared):
  """The record of `prepared`'s output if its image and record exist, complete, and
  were made with the same settings and image size; else None (how grids resume).
  The images themselves are not compared: a grid names each cell's output after its
  inputs."""
  if prepared.output is None:
    return None
  out = prepared.paths
  if not (os.path.isfile(out["image"]) and os.path.isfile(out["record"])):
    return None
  prepared = resolved(prepared)
  try:
    with open(out["record"], encoding="utf-8") as f:
      record = json.load(f)
  except (OSError, ValueError):
    return None
  flags = record.get("flags", {})
  same = (record.get("settings") == records.settings_dict(prepared.settings)
          and record.get("shape") == list(prepared.shape)
          and not record.get("result", {}).get("partial", True)
          and (flags.get("pyramid") or "") == (prepared.options.get("pyramid") or "")
          and all(flags.get(name) == value for name, value in
                  scale_combination.flag_values(prepared.options).items()))
  return record if same else None


_ENGINE = {}


def _load_tensorflow():
  """Import TensorFlow and the optimiser once, after the input checks, so that bad
  input is reported in a fraction of a second. TensorFlow 2.21 writes C++ log lines
  to stderr while it loads and probes for CUDA that TF_CPP_MIN_LOG_LEVEL does not
  silence; they are hidden here, and the device actually used is named instead."""
  if _ENGINE:
    return
  phases.enter("tensorflow")
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
  sys.stderr.flush()
  os.dup2(devnull, 2)
  try:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top  (deferred: slow)
    from nst.engine import optimize  # pylint: disable=g-import-not-at-top  (imports TF)
    gpus = tf.config.list_physical_devices("GPU")
  finally:
    os.dup2(saved, 2)
    os.close(saved)
    os.close(devnull)
  _ENGINE["optimize"] = optimize
  _ENGINE["device"] = (f"GPU ({len(gpus)} found, using {gpus[0].name})" if gpus
                       else "CPU")


def optimizer():
  """The optimize module (engine/optimize.py), TensorFlow imported."""
  _load_tensorflow()
  return _ENGINE["optimize"]


def device():
  """The device this process computes on, in words (CPU, or GPU and its name)."""
  _load_tensorflow()
  return _ENGINE["device"]


_NETWORKS = {}  # (weights path, normalize source, pooling) -> (conv weights, metadata)


def network(prepared, log=None):
  """The run's conv weights (normalised or not) and the normalisation's metadata,
  read and computed once per process."""
  settings = prepared.settings
  source = prepared.normalize_source if settings.normalize_vgg else None
  key = (os.path.abspath(prepared.weights_path), source, settings.pooling)
  if key not in _NETWORKS:
    phases.enter("network")
    original = (os.path.abspath(prepared.weights_path), None, settings.pooling)
    conv = _NETWORKS[original][0] if original in _NETWORKS else None
    _NETWORKS[key] = normalize.network_weights(
        prepared.weights_path, settings, source, conv, log or (lambda *_: None))
  return _NETWORKS[key]


def resolved(prepared):
  """`prepared` with --precision=auto made concrete for the device this process
  computes on (evalmode.auto_precision: bfloat16 where it is native, else float32);
  unchanged when a precision was given. Records, checkpoints and compiled graphs only
  ever see the concrete precision."""
  if prepared.settings.precision != "auto":
    return prepared
  precision, _ = evalmode.auto_precision(device())
  return dataclasses.replace(
      prepared, settings=dataclasses.replace(prepared.settings, precision=precision))


def execute(prepared, callback=None, log=None, record_extra=None):
  """Run a prepared one-scale problem; write its outputs if it has one (its record
  with `record_extra`'s entries: what a run built on this one adds); return a Result.

  Raises RunError when nothing could be written (the loss not finite at the start,
  an interruption before the first step: its message names the phase).
  """
  try:
    prepared = resolved(prepared)
    run = _start(prepared, log)
    last, stopped, signal_code = None, None, 0
    try:
      phases.enter("trace")  # the start's evaluation traces the loss
      for it in optimizer().stylize(run.problem, run.x0, report_every=run.chunk,
                                    state=run.state, elapsed=run.elapsed):
        if not it.finite:
          stopped = "non_finite"
          break
        last = it
        _observe(prepared, it, run.history, callback)
        phases.iterate(it)
    except interrupts.INTERRUPTS as e:
      stopped, signal_code = "interrupted", interrupts.exit_code(e)
    return _finish(prepared, run, last, stopped, signal_code, record_extra)
  except interrupts.INTERRUPTS as e:  # in a phase before the start's iterate
    raise interrupted(e) from None


def batch_key(prepared):
  """Prepared runs with the same key can be optimised as one batch (execute_batch):
  the same image shape, network and loss, the same number of steps and reporting;
  they may differ in their images, init and seed. None: this run goes alone (it
  resumes a checkpoint, has guidance masks or a temporal term)."""
  if (prepared.options["resume"] or prepared.guides is not None
      or prepared.temporal is not None):
    return None
  settings = prepared.settings.without("inputs")  # the images differ, not the rest
  source = prepared.normalize_source if settings.normalize_vgg else None
  return (tuple(prepared.shape), settings, os.path.abspath(prepared.weights_path),
          source, prepared.options["report_every"], prepared.options["save_per_step"])


def execute_batch(prepared_runs, callbacks=None, log=None):
  """Run prepared problems of one batch_key as one batch (optimize.Batch): each gets
  the steps, image and record it would get alone (up to a batched convolution's
  rounding; the evaluation count is the batch's) and its own outputs. Returns one
  Result, or the RunError that `execute` would raise, per run, in order."""
  keys = {batch_key(p) for p in prepared_runs}
  if len(keys) != 1 or None in keys:
    raise ValueError("execute_batch needs runs of one batch_key, none resuming")
  try:
    prepared_runs = [resolved(p) for p in prepared_runs]
    runs = [_start(p, log) for p in prepared_runs]
  except interrupts.INTERRUPTS as e:
    raise interrupted(e) from None
  for run in runs[1:]:  # one evaluation mode for the batch: the first run's
    run.problem = run.problem.using(runs[0].problem.eval_mode)
    run.eval_mode = runs[0].eval_mode
  callbacks = list(callbacks or [])
  callbacks += [None] * (len(runs) - len(callbacks))  # the first runs' callbacks
  optimize = optimizer()
  batch = optimize.Batch([run.problem for run in runs])
  lasts, stopped, signal_code = [None] * len(runs), [None] * len(runs), 0
  try:
    phases.enter("trace")
    for iterates in optimize.stylize_batch(batch, [run.x0 for run in runs],
                                           report_every=runs[0].chunk):
      for i, it in enumerate(iterates):
        if stopped[i] is not None or (lasts[i] is not None and lasts[i].finished):
          continue  # this member ended before the others; its state stays as it was
        if not it.finite:
          stopped[i] = "non_finite"
          continue
        lasts[i] = it
        _observe(prepared_runs[i], it, runs[i].history, callbacks[i])
      phases.iterate(iterates[0])
  except interrupts.INTERRUPTS as e:
    signal_code = interrupts.exit_code(e)
    stopped = [s if s is not None or (last is not None and last.finished)
               else "interrupted" for s, last in zip(stopped, lasts)]
  results = []
  for prepared, run, last, why in zip(prepared_runs, runs, lasts, stopped):
    try:
      results.append(_finish(prepared, run, last, why, signal_code))
    except RunError as e:
      results.append(e)
  return results


@dataclasses.dataclass
class _Run:
  """A run between _start and _finish: its problem, start and history so far."""
  problem: object
  x0: object
  state: object
  elapsed: float
  history: list
  chunk: int
  meta: dict
  normalization: object
  eval_mode: dict  # what evalmode.choose decided, for the record


def _start(prepared, log):
  """The problem, start (or resumed state) and reporting of a prepared run."""
  optimize = optimizer()
  settings, options, out = prepared.settings, prepared.options, prepared.paths
  meta = _checkpoint_meta(settings, prepared.shape, prepared.sources["content"],
                          prepared.sources["style"])
  state, elapsed, history = None, 0.0, []
  if options["resume"]:
    phases.enter("inputs")  # the checkpoint
    size = prepared.shape[0] * prepared.shape[1] * 3
    arrays, saved = records.load_checkpoint(out["checkpoint"], meta, size)
    if "pyramid" in saved:
      raise _coarse_to_fine_checkpoint(out["checkpoint"], saved)
    state = optimize.state_from_arrays(arrays)
    elapsed, history = saved["elapsed"], saved["history"]
  clear_stale(prepared, history[-1]["iteration"] if history else None)

  conv_weights, normalization = network(prepared, log)
  phases.enter("targets")
  problem = optimize.Problem(prepared.content, prepared.styles, settings,
                             vgg_weights=conv_weights, guides=prepared.guides,
                             temporal=prepared.temporal)
  x0 = None if state is not None else optimize.initial_image(
      prepared.init, prepared.content, prepared.styles[0], settings.seed)
  phases.enter("eval_mode")
  problem, eval_mode = evalmode.choose(
      options["eval_mode"], problem,
      state.position if state is not None else x0.reshape(1, -1),
      os.path.dirname(os.path.abspath(prepared.weights_path)), device(), log)
  save_every = options["save_per_step"]
  report_every = save_every if save_every > 0 else options["report_every"]
  chunk = math.gcd(report_every, max(save_every, 0), CHECKPOINT_EVERY)
  return _Run(problem, x0, state, elapsed, history, chunk, meta, normalization,
              eval_mode)


def clear_stale(prepared, resumed_at=None):
  """Remove what a killed run of this output left: its half-written temporary files
  and, in the step folder, the step images this run will not write again (all of
  them when it starts afresh; those after `resumed_at` when it resumes there), so
  the folder holds only this run's steps."""
  if prepared.output is not None:
    for path in prepared.paths.values():
      remove_stale_parts(path)
  if not prepared.step_dir or not os.path.isdir(prepared.step_dir):
    return
  for name in os.listdir(prepared.step_dir):
    stale = (outputs.STEP_IMAGE.fullmatch(name) and (resumed_at is None
                                                     or int(name[5:10]) > resumed_at)
             or outputs.STEP_PART.fullmatch(name))  # a step image killed while written
    if stale:
      with contextlib.suppress(OSError):
        os.remove(os.path.join(prepared.step_dir, name))


def _observe(prepared, it, history, callback):
  """What a run does with each iterate: history, callback, --save_per_step images."""
  if not history or history[-1]["iteration"] != it.iteration:
    history.append(records.history_entry(it))
  if callback is not None:
    callback(it)
  save_every = prepared.options["save_per_step"]
  if (prepared.step_dir and 0 < it.iteration and not it.finished
      and it.iteration % save_every == 0):
    outputs.write_step(prepared.step_dir, it.iteration, final_image(prepared, it.image))


def _finish(prepared, run, last, stopped, signal_code, record_extra=None):
  """The run's Result, its outputs written (image, plot, record; a checkpoint when
  interrupted); RunError when there is nothing to write. A signal while they are
  written waits until they are complete, and is the Result's signal_exit_code."""
  if last is None or (stopped == "non_finite" and last.iteration == 0):
    if stopped == "non_finite":
      raise RunError("the loss or its gradient is not finite at the start; nothing "
                     "was written" + NON_FINITE_HINT, EXIT_NON_FINITE)
    raise interrupted(interrupts.exception(signal_code))
  with interrupts.held() as held:
    phases.enter("write")
    result = _result(prepared, run, last, stopped, signal_code, record_extra)
  result.signal_exit_code = result.signal_exit_code or held.code
  return result


def _result(prepared, run, last, stopped, signal_code, record_extra):
  """_finish's Result, its outputs written."""
  settings, options, out = prepared.settings, prepared.options, prepared.paths
  history = run.history
  if stopped is None:
    stopped = ("num_steps" if last.iteration >= last.num_steps else
               "converged" if last.converged else "line_search")
  image = final_image(prepared, last.image)
  result = Result(image=image_lib.to_uint8(image), record=None, last=last,
                  stopped=stopped, paths=out, signal_exit_code=signal_code)
  summary = dict(iterations=last.iteration, evaluations=last.evaluations,
                 seconds=round(last.elapsed, 3), losses=last.losses, stopped=stopped,
                 partial=result.partial,
                 image=os.path.abspath(out["image"]) if out else None)
  values = flag_values(prepared)
  result.record = records.make_record(
      # The mode and precision auto chose, so that argv gives the same image even
      # after the cache is gone, and on another machine.
      argv=reproducing_argv(dict(values, eval_mode=run.eval_mode["used"],
                                 precision=settings.precision)),
      flags=values, preset=prepared.preset,
      settings=settings,
      images={"content": prepared.sources["content"] or ARRAY,
              "style": style_source(prepared)},
      shape=prepared.shape,
      weights={"path": str(prepared.weights_path), "md5": weights_lib.MD5,
               "normalization": run.normalization},
      device=device(), history=history, result=summary,
      layer_weights={"content": settings.content_weights(),
                     "style": settings.style_weights()})
  result.record["eval_mode"] = run.eval_mode
  if options["precision"] == "auto":
    result.record["precision"] = dict(
        zip(("used", "why"), evalmode.auto_precision(device())), requested="auto")
  result.record = records.with_entries(result.record, record_extra)
  if out:
    if stopped == "interrupted":
      checkpoint = (optimizer().state_to_arrays(last.state),
                    dict(run.meta, elapsed=last.elapsed, history=history))
    else:
      checkpoint = outputs.KEEP if stopped == "non_finite" else outputs.REMOVE
    outputs.write(out, image, result.record, checkpoint=checkpoint,
                  plot=outputs.plot_of(history, settings, os.path.basename(out["image"]))
                  if options["plot"] else None)
  return result


NON_FINITE_HINT = (". Likely causes: an alpha or beta so large the loss overflows "
                   "float32 (try a smaller ratio), or a corrupt weights file (run "
                   "nst-fetch-weights again)")


def _joined(paths):
  """The --style_image value of these artworks' paths (None if any was an array)."""
  return None if any(p is None for p in paths) else ",".join(paths)


def flag_values(prepared):
  """Every option of the run under its flag name, as JSON values, images included."""
  values = {"content_image": prepared.sources["content"],
            "style_image": _joined(prepared.sources["style"]),
            "output": prepared.output, "preset": prepared.preset}
  for name, value in prepared.options.items():
    if isinstance(value, np.ndarray):
      value = ARRAY
    elif isinstance(value, os.PathLike):
      value = os.fspath(value)
    elif isinstance(value, tuple):
      value = list(value)
    values[name] = value
  values.update(scale_combination.flag_values(prepared.options))  # None where not combining
  return values


def reproducing_argv(values):
  """`nst` flags that rebuild this run: every flag that has a value (not the output,
  nor --overwrite or --resume). Runs from arrays can't be rebuilt from flags alone."""
  argv = []
  for name, value in sorted(values.items()):
    if (value is None or value == ARRAY or value == ""
        # --style_strength is in --alpha already (both given would be refused).
        or name in ("output", "overwrite", "resume", "style_strength")):
      continue  # "": an empty text option (e.g. --pyramid) is its default
    if isinstance(value, bool):
      argv.append(flag(name) if value else flag(f"no{name}"))  # absl's --noname
    elif isinstance(value, list):
      argv.append(f"{flag(name)}="
                  + ",".join(repr(v) if isinstance(v, float) else str(v) for v in value))
    else:
      argv.append(f"{flag(name)}={value!r}" if isinstance(value, float) else
                  f"{flag(name)}={value}")
  return argv
