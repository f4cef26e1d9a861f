"""Scale control by coarse-to-fine (Gatys et al., "Controlling Perceptual Factors in
Neural Style Transfer", CVPR 2017): a large image is synthesised level by level.

--pyramid=256:300,512:100 lists the levels as size:iterations, each the result's
longest side in px (as --image_size), sizes increasing; a level may also be smaller
than the one before it (--small_pyramid: a small result laid out at 256 px first).
Level 1 starts from the run's --init; level k > 1 from level k-1's result resampled
to level k's shape: upsampled bilinearly, as the authors' code does, or downsampled
antialiased (Lanczos, as every other resize here). Every level is a one-scale run of
its own (nst/runs/levels.py runs them): the photograph and the artworks are resized
from the originals for it, and its targets (content features, Gram matrices)
computed at its size, so --style_scale keeps the artwork's size relative to each
level's. This module holds what the levels are: parsing, resolving against the other
options, their shapes, the size checks and the resampling between levels.

Beside --output=out.png, level k leaves out_level<k>.png and its record
out_level<k>.json (and out_level<k>_loss.png with --plot); out.png and out.json are the
last level's image and a record holding every level. An interruption leaves the level
in progress's own checkpoint (out_level<k>.ckpt.npz) and out.ckpt.npz, which says which
level it was and holds that level's starting image; --resume then continues that level
and keeps the finished ones.
"""

import dataclasses
import re

import numpy as np

from nst import image as image_lib
from nst.engine import memory
from nst.engine import vgg
from nst.errors import UserError, flag

EXAMPLE = f"{flag('pyramid')}=256:300,512:100"
UPSAMPLING = "bilinear"


@dataclasses.dataclass(frozen=True)
class Level:
  size: int        # longest side in px
  iterations: int  # L-BFGS iterations at this size


def parse(value, option="pyramid"):
  """The levels of a --pyramid value: text 'size:iterations,...' or a sequence of
  (size, iterations) pairs; [] for '' or None (one scale). UserError naming `option`
  (the flag the value came from) if malformed."""
  if value is None or (isinstance(value, str) and not value.strip()):
    return []
  if isinstance(value, str):
    pairs = []
    for item in value.split(","):
      match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", item)
      if not match:
        raise UserError(f"{flag(option)}: {item.strip()!r} in {value!r} is not "
                        f"size:iterations; give increasing levels, e.g. {EXAMPLE}",
                        option=option)
      pairs.append((int(match[1]), int(match[2])))
  else:
    try:
      pairs = [tuple(pair) for pair in value]
    except TypeError:
      pairs = [()]
    if not pairs or not all(len(p) == 2 and all(isinstance(v, (int, np.integer))
                                   and not isinstance(v, bool) for v in p)
               for p in pairs):
      raise UserError(f"{flag(option)}: {value!r} is not a list of (size, "
                      f"iterations) integer pairs; give e.g. {EXAMPLE}",
                      option=option)
  levels = [Level(int(size), int(iterations)) for size, iterations in pairs]
  for level in levels:
    if level.size < 1 or level.iterations < 1:
      raise UserError(f"{flag(option)}: level {level.size}:{level.iterations} needs "
                      f"a size and iterations of at least 1; give e.g. {EXAMPLE}",
                      option=option)
  sizes = [level.size for level in levels]
  if any(b == a for a, b in zip(sizes, sizes[1:])):
    raise UserError(f"{flag(option)}: sizes {','.join(map(str, sizes))}: "
                    f"consecutive levels must differ in size (increasing, coarse to "
                    f"fine); give e.g. {EXAMPLE}", option=option)
  return levels


def text(levels):
  """The canonical --pyramid value of `levels`."""
  return ",".join(f"{level.size}:{level.iterations}" for level in levels)


# Levels relative to --image_size: "0.5x:300,1x:100" (the last must be 1x, the
# result). What the default preset uses, so that one schedule fits every size.
_RELATIVE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*x\s*:\s*(\d+)\s*")
RELATIVE_EXAMPLE = f"{flag('pyramid')}=0.5x:300,1x:100"
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
      raise UserError(f"{flag('pyramid')}: {item.strip()!r} in {value!r}: a relative "
                      f"level's scale must be in (0, 1]; give e.g. {RELATIVE_EXAMPLE}",
                      option="pyramid")
    items.append((scale, int(match[2])))
  if items[-1][0] != 1:
    raise UserError(f"{flag('pyramid')}: {value!r}: the last relative level must be "
                    f"1x (the result's size); give e.g. {RELATIVE_EXAMPLE}",
                    option="pyramid")
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


SMALL_EXAMPLE = f"{flag('small_pyramid')}=256:150,1x:25"


def _small_items(value):
  """(levels in px, final iterations) of a --small_pyramid value, checked."""
  *fixed, last = value.split(",")
  match = _RELATIVE.fullmatch(last)
  if not fixed or match is None or float(match[1]) != 1:
    raise UserError(f"{flag('small_pyramid')}: {value!r} must be size:iterations "
                    f"levels then 1x:iterations (the result's size); give e.g. "
                    f"{SMALL_EXAMPLE}", option="small_pyramid")
  return parse(",".join(fixed), "small_pyramid"), int(match[2])


def small_levels(value, image_size):
  """The levels of a --small_pyramid value (256:150,1x:25) for a result of
  `image_size` px: its levels, then the result's size; [] for no value or a result
  not smaller than every one of its levels. UserError if malformed, whatever the
  size."""
  if not value or not value.strip():
    return []
  levels, iterations = _small_items(value)
  if not 0 < image_size < min(level.size for level in levels):  # 0: one scale
    return []
  return parse([(level.size, level.iterations) for level in levels]
               + [(image_size, iterations)])


def resolve(options, given):
  """(levels, options): with --pyramid, the options at the last level's size and
  iterations (what the run's result is); UserError if --image_size or --num_steps
  was also given, since the levels set both. Relative levels (0.5x:300,...) take
  --image_size as the result's size; a preset's give way to --num_steps. Where no
  --pyramid or --num_steps is given, a result smaller than --small_pyramid's levels
  runs them first."""
  small = small_levels(options.get("small_pyramid"), options["image_size"])
  if small and not {"pyramid", "num_steps"} & set(given):
    return small, dict(options, pyramid=text(small), num_steps=small[-1].iterations)
  if is_relative(options.get("pyramid")):
    if "pyramid" not in given:
      return _from_preset(options, given)
    if "num_steps" in given:
      raise UserError(f"{flag('pyramid')} sets every level's iterations; drop "
                      f"{flag('num_steps')}", option="pyramid")
    if options["image_size"] <= 0:
      raise UserError(f"{flag('pyramid')}: relative levels ({options['pyramid']}) need "
                      f"{flag('image_size')} > 0 (the result's size)", option="pyramid")
    levels = relative_levels(options["pyramid"], options["image_size"])
    return levels, dict(options, pyramid=text(levels), num_steps=levels[-1].iterations)
  levels = parse(options.get("pyramid"))
  if not levels:
    return [], dict(options, pyramid="")
  clash = [name for name in ("image_size", "num_steps") if name in given]
  if clash:
    raise UserError(f"{flag('pyramid')} sets every level's size and iterations; drop "
                    f"{' and '.join(map(flag, clash))} (the last level, "
                    f"{levels[-1].size}:{levels[-1].iterations}, is the result's)",
                    option="pyramid")
  return levels, dict(options, pyramid=text(levels), image_size=levels[-1].size,
                      num_steps=levels[-1].iterations)


def shapes(content_shape, levels):
  """(H, W) of every level for a photograph of `content_shape`."""
  return [image_lib.scaled_shape(content_shape, level.size) for level in levels]


def check_levels(settings, content_shape, levels, eval_mode="plain"):
  """Refuse, before any work, a level too small for the deepest layer (the
  smallest), or a level whose estimated peak memory this machine lacks."""
  if not levels:
    return
  level_shapes = shapes(content_shape, levels)
  needed = vgg.min_image_side(settings.layers())
  k = min(range(len(levels)), key=lambda i: levels[i].size)
  height, width = level_shapes[k]
  if min(height, width) < needed:
    deepest = max(settings.layers(), key=vgg.LAYER_NAMES.index)
    raise UserError(f"{flag('pyramid')}: level {k + 1} ({levels[k].size} px) is "
                    f"{width}x{height} px but {deepest} needs at least {needed} px on "
                    "the shortest side; start the pyramid at a larger size",
                    option="pyramid")
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
      raise UserError(f"{flag('pyramid')}: level {k} ({shape[1]}x{shape[0]} px) needs "
                      f"about {estimate / 2**30:.1f} GiB but "
                      f"{available / 2**30:.1f} GiB is available; end the pyramid at "
                      f"{side} px or less",
                      option="pyramid")


def resample(image, shape):
  """Level k-1's result as level k's start at (H, W), clipped to 0-255: bilinear up,
  as the authors' code; antialiased Lanczos down (a small result's last level)."""
  image = np.asarray(image, np.float32)
  larger = shape[0] * shape[1] > image.shape[0] * image.shape[1]
  return image_lib.resize(image, shape, UPSAMPLING if larger else "lanczos")
