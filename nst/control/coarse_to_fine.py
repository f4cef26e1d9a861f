"""Scale control by coarse-to-fine (Gatys et al., "Controlling Perceptual Factors in
Neural Style Transfer", CVPR 2017): a large image is synthesised level by level.

--pyramid=256:300,512:100 lists the levels as size:iterations, sizes increasing, each
the result's longest side in px (as --image_size). Level 1 starts from the run's
--init; level k > 1 from level k-1's result upsampled (bilinear, as the authors'
code does) to level k's shape. Every level is a run of its own through the one run
path (run.prepare / run.execute): the photograph and the artworks are resized from
the originals for it, and its targets (content features, Gram matrices) computed at
its size, so --style_scale keeps the artwork's size relative to each level's.

Beside --output=out.png, level k leaves out_level<k>.png and its record
out_level<k>.json (and out_level<k>_loss.png with --plot); out.png and out.json are the
last level's image and a record holding every level. An interruption leaves the level
in progress's own checkpoint (out_level<k>.ckpt.npz) and out.ckpt.npz, which says which
level it was and holds that level's starting image; --resume then continues that level
and keeps the finished ones.
"""

import dataclasses
import os
import re
import time

import numpy as np

from nst import image as image_lib
from nst import interrupts
from nst.engine import memory
from nst import phases
from nst.runs import records
from nst.engine import vgg
from nst.errors import UserError

EXAMPLE = "--pyramid=256:300,512:100"
ARRAY = "<array>"  # as run.ARRAY: what a record says where an image was an array
UPSAMPLING = "bilinear"


@dataclasses.dataclass(frozen=True)
class Level:
  size: int        # longest side in px
  iterations: int  # L-BFGS iterations at this size


def parse(value):
  """The levels of a --pyramid value: text 'size:iterations,...' or a sequence of
  (size, iterations) pairs; [] for '' or None (one scale). UserError if malformed."""
  if value is None or (isinstance(value, str) and not value.strip()):
    return []
  if isinstance(value, str):
    pairs = []
    for item in value.split(","):
      match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", item)
      if not match:
        raise UserError(f"--pyramid: {item.strip()!r} in {value!r} is not "
                        f"size:iterations; give increasing levels, e.g. {EXAMPLE}")
      pairs.append((int(match[1]), int(match[2])))
  else:
    try:
      pairs = [tuple(pair) for pair in value]
    except TypeError:
      pairs = [()]
    if not pairs or not all(len(p) == 2 and all(isinstance(v, (int, np.integer))
                                   and not isinstance(v, bool) for v in p)
               for p in pairs):
      raise UserError(f"--pyramid: {value!r} is not a list of (size, iterations) "
                      f"integer pairs; give e.g. {EXAMPLE}")
  levels = [Level(int(size), int(iterations)) for size, iterations in pairs]
  for level in levels:
    if level.size < 1 or level.iterations < 1:
      raise UserError(f"--pyramid: level {level.size}:{level.iterations} needs a size "
                      f"and iterations of at least 1; give e.g. {EXAMPLE}")
  sizes = [level.size for level in levels]
  if any(b <= a for a, b in zip(sizes, sizes[1:])):
    raise UserError(f"--pyramid: sizes {','.join(map(str, sizes))} must increase "
                    f"(coarse to fine); give e.g. {EXAMPLE}")
  return levels


def text(levels):
  """The canonical --pyramid value of `levels`."""
  return ",".join(f"{level.size}:{level.iterations}" for level in levels)


# Levels relative to --image_size: "0.5x:300,1x:100" (the last must be 1x, the
# result). What the default preset uses, so that one schedule fits every size.
_RELATIVE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*x\s*:\s*(\d+)\s*")
RELATIVE_EXAMPLE = "--pyramid=0.5x:300,1x:100"
# A preset's relative levels are dropped (one scale, the preset's --num_steps) where
# the coarsest would be under this many px: too small to carry the artwork's strokes.
MIN_PRESET_LEVEL = 128


def is_relative(value):
  return isinstance(value, str) and bool(value.strip()) and all(
      _RELATIVE.fullmatch(item) for item in value.split(","))


def _relative_items(value):
  """[(scale, iterations)] of a relative --pyramid value, checked."""
  items = []
  for item in value.split(","):
    match = _RELATIVE.fullmatch(item)
    scale = float(match[1])
    if not 0 < scale <= 1:
      raise UserError(f"--pyramid: {item.strip()!r} in {value!r}: a relative level's "
                      f"scale must be in (0, 1]; give e.g. {RELATIVE_EXAMPLE}")
    items.append((scale, int(match[2])))
  if items[-1][0] != 1:
    raise UserError(f"--pyramid: {value!r}: the last relative level must be 1x (the "
                    f"result's size); give e.g. {RELATIVE_EXAMPLE}")
  return items


def relative_levels(value, image_size):
  """The levels of a relative --pyramid value at --image_size (px, > 0)."""
  return parse([(max(1, round(scale * image_size)), iterations)
                for scale, iterations in _relative_items(value)])


def _from_preset(options, given):
  """(levels, options) of a preset's relative --pyramid: honoured unless --num_steps
  was given (then one scale of that many iterations), the photograph's own size is
  asked for (--image_size=0), or the coarsest level would be too small."""
  image_size = options["image_size"]
  coarsest = min(scale for scale, _ in _relative_items(options["pyramid"]))
  if ("num_steps" in given or image_size <= 0
      or coarsest * image_size < MIN_PRESET_LEVEL):
    return [], dict(options, pyramid="")
  levels = relative_levels(options["pyramid"], image_size)
  return levels, dict(options, pyramid=text(levels), num_steps=levels[-1].iterations)


def resolve(options, given):
  """(levels, options): with --pyramid, the options at the last level's size and
  iterations (what the run's result is); UserError if --image_size or --num_steps
  was also given, since the levels set both. Relative levels (0.5x:300,...) take
  --image_size as the result's size; a preset's give way to --num_steps."""
  if is_relative(options.get("pyramid")):
    if "pyramid" not in given:
      return _from_preset(options, given)
    if "num_steps" in given:
      raise UserError("--pyramid sets every level's iterations; drop --num_steps")
    if options["image_size"] <= 0:
      raise UserError(f"--pyramid: relative levels ({options['pyramid']}) need "
                      "--image_size > 0 (the result's size)")
    levels = relative_levels(options["pyramid"], options["image_size"])
    return levels, dict(options, pyramid=text(levels), num_steps=levels[-1].iterations)
  levels = parse(options.get("pyramid"))
  if not levels:
    return [], dict(options, pyramid="")
  clash = [f"--{name}" for name in ("image_size", "num_steps") if name in given]
  if clash:
    raise UserError(f"--pyramid sets every level's size and iterations; drop "
                    f"{' and '.join(clash)} (the last level, "
                    f"{levels[-1].size}:{levels[-1].iterations}, is the result's)")
  return levels, dict(options, pyramid=text(levels), image_size=levels[-1].size,
                      num_steps=levels[-1].iterations)


def shapes(content_shape, levels):
  """(H, W) of every level for a photograph of `content_shape`."""
  return [image_lib.scaled_shape(content_shape, level.size) for level in levels]


def check_levels(settings, content_shape, levels, eval_mode="plain"):
  """Refuse, before any work, a first level too small for the deepest layer, or a
  level whose estimated peak memory this machine lacks (the largest is the last)."""
  if not levels:
    return
  level_shapes = shapes(content_shape, levels)
  needed = vgg.min_image_side(settings.layers())
  height, width = level_shapes[0]
  if min(height, width) < needed:
    deepest = max(settings.layers(), key=vgg.LAYER_NAMES.index)
    raise UserError(f"--pyramid: level 1 ({levels[0].size} px) is {width}x{height} px "
                    f"but {deepest} needs at least {needed} px on the shortest side; "
                    "start the pyramid at a larger size")
  available = memory.available_bytes()
  if available is None:
    return
  for k, (shape, level) in enumerate(zip(level_shapes, levels), start=1):
    estimate = memory.estimate_bytes(shape, settings.layers(),
                                     settings.num_correction_pairs, eval_mode)
    if estimate > available:
      side = memory.largest_fitting_side(shape, settings.layers(),
                                         settings.num_correction_pairs, available,
                                         eval_mode)
      raise UserError(f"--pyramid: level {k} ({shape[1]}x{shape[0]} px) needs about "
                      f"{estimate / 2**30:.1f} GiB but {available / 2**30:.1f} GiB is "
                      f"available; end the pyramid at {side} px or less")


def level_paths(output, k):
  """The files of level k of the run writing `output` (records.paths' kinds)."""
  stem, extension = os.path.splitext(output)
  return records.paths(f"{stem}_level{k}{extension}")


def check_outputs(output, levels, resume, overwrite):
  """Besides run's own check of the output: never overwrite another run's level
  files by accident."""
  if output is None or resume or overwrite:
    return
  for k in range(1, len(levels) + 1):
    for path in level_paths(output, k).values():
      if os.path.exists(path):
        raise UserError(f"--output: {path!r} (level {k} of a coarse-to-fine run) "
                        "exists; pass --overwrite to replace it, or choose another "
                        "--output")


def upsample(image, shape):
  """Level k-1's result as level k's start: bilinear to (H, W), clipped to 0-255."""
  return image_lib.resize(np.asarray(image, np.float32), shape, UPSAMPLING)


def _meta(prepared):
  """What a pyramid checkpoint must agree on with the run resuming it."""
  meta = {"settings": records.settings_dict(prepared.settings),
          "shape": list(prepared.shape), "pyramid": prepared.options["pyramid"],
          "content_image": prepared.sources["content"],
          "style_image": ",".join(p or ARRAY for p in prepared.sources["style"])}
  meta["settings"].pop("num_steps")  # the last level's; the pyramid says them all
  return meta


def _prepare_level(prepared, levels, k, start, resume):
  """run.prepare for level k: the run's inputs and explicit options, at level k's
  size and iterations, starting from `start` (k > 1), writing level k's files."""
  from nst.runs import single as run_lib  # pylint: disable=g-import-not-at-top
  request, level = prepared.request, levels[k - 1]
  options = dict(request["given"], pyramid="", image_size=level.size,
                 num_steps=level.iterations, overwrite=True, resume=resume)
  if k > 1:
    options["init"] = start
  if prepared.step_dir:
    options["step_dir"] = os.path.join(prepared.step_dir, f"level{k}")
  output = level_paths(prepared.output, k)["image"] if prepared.output else None
  level_prepared = run_lib.prepare(request["content"], request["style"], output,
                                   preset=prepared.preset, **options)
  if k > 1:  # exactly the upsampled result, not re-read as an image
    level_prepared = dataclasses.replace(level_prepared, init=start)
  return level_prepared


def _tagged(callback, k, num_levels):
  def tag(iterate):
    iterate.level, iterate.num_levels = k, num_levels
    if callback is not None:
      callback(iterate)
  return tag


def _entry(k, level, record):
  """What the run's record keeps of level k (from the level's own record)."""
  history, result = record["history"], record["result"]
  steps = ("iteration", "evaluations", "elapsed")
  return dict(level=k, size=level.size, shape=record["shape"], num_steps=level.iterations,
              iterations=result["iterations"], evaluations=result["evaluations"],
              seconds=result["seconds"], stopped=result["stopped"],
              partial=result["partial"],
              initial_losses={n: v for n, v in history[0].items() if n not in steps},
              losses=result["losses"], image=result["image"],
              record=None if result["image"] is None else
              records.paths(result["image"])["record"],
              history=history)


def _finished_record(prepared, k):
  """Level k's record, kept by an interrupted run: it must be complete."""
  import json  # pylint: disable=g-import-not-at-top
  paths = level_paths(prepared.output, k)
  try:
    with open(paths["record"], encoding="utf-8") as f:
      record = json.load(f)
  except (OSError, ValueError):
    record = None
  if (record is None or record["result"].get("partial", True)
      or not os.path.isfile(paths["image"])):
    raise UserError(f"--resume: level {k} of this coarse-to-fine run is not complete "
                    f"({paths['record']!r}); drop --resume and pass --overwrite to "
                    "start again")
  return record


def execute(prepared, callback=None, log=None):
  """Run every level of a prepared coarse-to-fine run (run.execute calls this);
  return a run.Result whose record holds every level."""
  from nst.runs import single as run_lib  # pylint: disable=g-import-not-at-top
  levels = parse(prepared.options["pyramid"])
  out = prepared.paths
  first, start, wall = 1, None, 0.0
  if prepared.options["resume"]:
    arrays, saved = records.load_checkpoint(out["checkpoint"], _meta(prepared))
    first, wall, start = saved["level"], saved["wall_seconds"], arrays.get("start")
  entries = [_entry(k, levels[k - 1], _finished_record(prepared, k))
             for k in range(1, first)]
  began = time.perf_counter()
  # The level in progress and its start: what an interruption saves (one assignment,
  # so that a signal never finds the two out of step).
  now = {"at": (first, start)}
  level_result = None

  def save_checkpoint():
    level, level_start = now["at"]
    with interrupts.held():  # already stopping: a second signal waits for it
      records.save_checkpoint(
          out["checkpoint"], {} if level_start is None else {"start": level_start},
          dict(_meta(prepared), level=level,
               wall_seconds=wall + time.perf_counter() - began))

  try:
    for k in range(first, len(levels) + 1):
      if k > first:
        phases.enter("level")
      resume_level = bool(out) and k == first and os.path.isfile(
          level_paths(prepared.output, k)["checkpoint"])
      level_prepared = _prepare_level(prepared, levels, k, now["at"][1], resume_level)
      if log is not None:
        height, width = level_prepared.shape
        log(f"nst: level {k}/{len(levels)}: {width}x{height} px, "
            f"{levels[k - 1].iterations} iterations"
            + (" (continued from its checkpoint)" if resume_level else ""))
      level_result = run_lib.execute(level_prepared,
                                     callback=_tagged(callback, k, len(levels)),
                                     log=log)
      entries.append(_entry(k, levels[k - 1], level_result.record))
      if level_result.partial:
        break
      if k < len(levels):
        next_shape = shapes(prepared.content.shape, levels)[k]
        now["at"] = (k + 1, upsample(level_result.last.image, next_shape))
        if level_result.signal_exit_code:  # came while the level was written
          raise interrupts.exception(level_result.signal_exit_code)
  except run_lib.RunError as e:
    interrupted = run_lib.is_interruption(e)
    if out and interrupted and (entries or first > 1):
      save_checkpoint()
      raise run_lib.RunError(
          f"interrupted before level {now['at'][0]}'s first step; the finished levels "
          f"are kept and {out['checkpoint']!r} was written; add --resume to continue",
          e.exit_code) from None
    raise
  except interrupts.INTERRUPTS as e:  # between two levels
    code = interrupts.exit_code(e)
    if not out:
      raise run_lib.RunError(f"interrupted at level {now['at'][0]}", code) from None
    save_checkpoint()
    raise run_lib.RunError(
        f"interrupted between levels; {out['checkpoint']!r} was written; add --resume "
        f"to continue at level {now['at'][0]}", code) from None

  with interrupts.held() as held:
    phases.enter("write")
    result = _write(prepared, levels, level_result, entries, wall, began,
                    save_checkpoint)
  result.signal_exit_code = result.signal_exit_code or held.code
  return result


def _write(prepared, levels, level_result, entries, wall, began, save_checkpoint):
  """execute's Result, its outputs written (the run's image, plot and record, or
  its checkpoint)."""
  from nst.runs import single as run_lib  # pylint: disable=g-import-not-at-top
  out = prepared.paths
  k = level_result.last.level
  last, stopped = level_result.last, level_result.stopped
  result = run_lib.Result(image=level_result.image, record=None, last=last,
                          stopped=stopped, paths=out,
                          signal_exit_code=level_result.signal_exit_code)
  summary = dict(
      iterations=sum(e["iterations"] for e in entries),
      evaluations=sum(e["evaluations"] for e in entries),
      seconds=round(sum(e["seconds"] for e in entries), 3),
      wall_seconds=round(wall + time.perf_counter() - began, 3),
      losses=last.losses, stopped=stopped, partial=result.partial, level=k,
      levels=len(levels), image=os.path.abspath(out["image"]) if out else None)
  level_record = level_result.record
  history = level_record["history"]
  if out:
    image_lib.save_image(out["image"], result.image)
    if prepared.options["plot"]:
      from nst import plot as plot_lib  # pylint: disable=g-import-not-at-top
      settings = prepared.settings
      plot = plot_lib.loss_curves(
          history, settings.alpha, settings.beta, tv_weight=settings.tv_weight,
          title=f"{os.path.basename(out['image'])} (level {k}/{len(levels)})")
      summary["plot"] = os.path.abspath(image_lib.save_image(out["plot"], plot))
  # The levels set the size and iterations: --image_size and --num_steps are not
  # flags of this run (reproducing_argv leaves them out).
  settings = run_lib.resolved(prepared).settings
  flags = dict(run_lib._flag_values(prepared),  # pylint: disable=protected-access
               image_size=None, num_steps=None)
  result.record = records.make_record(
      # The precision the levels ran at (--precision=auto resolved), as theirs say.
      argv=run_lib.reproducing_argv(dict(flags, precision=settings.precision)),
      flags=flags, preset=prepared.preset,
      settings=settings, images=level_record["images"],
      shape=prepared.shape, weights=level_record["weights"],
      device=level_record["device"], history=history, result=summary,
      layer_weights=level_record["layer_weights"])
  result.record["levels"] = entries
  if out:
    records.write_record(out["record"], result.record)
    if stopped == "interrupted":
      save_checkpoint()
    elif stopped != "non_finite" and os.path.exists(out["checkpoint"]):
      os.remove(out["checkpoint"])  # the run it belonged to is complete
  return result
