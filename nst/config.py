"""The one place that holds nst's defaults, and the checks on a run's settings.

Defaults follow the TF1 reimplementation nst replaces (see README): alpha/beta = 1e-6
with the paper-literal loss, content relu4_2, style relu1_1 ... relu5_1 at 0.2 each,
average pooling, 1000 L-BFGS iterations from uniform noise.
"""

import dataclasses
import math

from nst import vgg
from nst.errors import UserError

INIT_CHOICES = ("random", "content", "style", "white")
LOSS_CONVENTIONS = ("paper", "authors")  # see losses.py
# "unit_first": try L-BFGS's natural step, then Hager-Zhang (lbfgs.py);
# "hager_zhang": exactly tfp.optimizer.lbfgs_minimize (about 3 evaluations an iteration).
LINE_SEARCHES = ("unit_first", "hager_zhang")

# Run options outside the optimisation problem itself (the CLI's flag defaults).
IMAGE_SIZE = 512       # longest side in px; 0 keeps the content image's size
SAVE_PER_STEP = -1     # save an intermediate image every N iterations; -1: never
REPORT_EVERY = 50      # iterations between progress lines when nothing is saved
OUTPUT = "stylized.png"


@dataclasses.dataclass(frozen=True)
class Settings:
  """What defines a style-transfer problem and how L-BFGS solves it.

  Layer weights of None mean equal weights summing to 1 (0.2 each for the five
  default style layers, 1 for the single content layer).
  """
  alpha: float = 1e-6
  beta: float = 1.0
  content_layers: tuple = ("relu4_2",)
  content_layer_weights: tuple = None
  style_layers: tuple = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
  style_layer_weights: tuple = None
  pooling: str = "avg"
  init: str = "random"   # one of INIT_CHOICES, or the path of an image
  seed: int = 0
  num_steps: int = 1000
  num_correction_pairs: int = 10
  loss_convention: str = "paper"  # or "authors" (losses.CONVENTIONS)
  normalize_vgg: bool = False     # Gatys's rescaled VGG19 (normalize.py)
  line_search: str = "unit_first"  # one of LINE_SEARCHES
  precision: str = "float32"      # network compute precision: vgg.PRECISION_POLICIES

  def content_weights(self):
    """{layer: weight} of the content layers in use (none when alpha is 0)."""
    return _weights(self.content_layers, self.content_layer_weights, self.alpha)

  def style_weights(self):
    """{layer: weight} of the style layers in use (none when beta is 0)."""
    return _weights(self.style_layers, self.style_layer_weights, self.beta)

  def layers(self):
    """Every layer the network must compute for this problem."""
    return list(self.content_weights()) + list(self.style_weights())

  def validate(self):
    """Raise UserError, naming the flag and the fix, for any unusable setting."""
    for name in ("alpha", "beta"):
      _check_non_negative(getattr(self, name), f"--{name}")
    if self.alpha == 0 and self.beta == 0:
      raise UserError("--alpha and --beta are both 0: nothing to optimise; "
                      "make at least one positive")
    for kind in ("content", "style"):
      layers = getattr(self, f"{kind}_layers")
      weights = getattr(self, f"{kind}_layer_weights")
      vgg.check_layers(layers, f"--{kind}_layers")
      if len(set(layers)) != len(layers):
        raise UserError(f"--{kind}_layers lists a layer twice: {','.join(layers)}")
      if weights is not None:
        if len(weights) != len(layers):
          raise UserError(
              f"--{kind}_layer_weights has {len(weights)} values but "
              f"--{kind}_layers has {len(layers)} layers; give one weight per layer")
        for w in weights:
          _check_non_negative(w, f"--{kind}_layer_weights")
    if self.alpha > 0 and not self.content_layers:
      raise UserError("--content_layers is empty but --alpha > 0; "
                      "name a layer (e.g. relu4_2) or set --alpha=0")
    if self.beta > 0 and not self.style_layers:
      raise UserError("--style_layers is empty but --beta > 0; "
                      "name a layer (e.g. relu1_1) or set --beta=0")
    if self.pooling not in vgg.POOLING_CHOICES:
      raise UserError(f"--pooling must be one of {', '.join(vgg.POOLING_CHOICES)}, "
                      f"got {self.pooling!r}")
    if self.loss_convention not in LOSS_CONVENTIONS:
      raise UserError(f"--loss_convention must be one of {', '.join(LOSS_CONVENTIONS)}, "
                      f"got {self.loss_convention!r}")
    if self.line_search not in LINE_SEARCHES:
      raise UserError(f"--line_search must be one of {', '.join(LINE_SEARCHES)}, "
                      f"got {self.line_search!r}")
    if self.precision not in vgg.PRECISION_POLICIES:
      raise UserError(f"--precision must be one of {', '.join(vgg.PRECISION_POLICIES)}, "
                      f"got {self.precision!r}")
    if self.num_steps < 1:
      raise UserError(f"--num_steps must be at least 1, got {self.num_steps}")
    if self.num_correction_pairs < 1:
      raise UserError("--num_correction_pairs must be at least 1, "
                      f"got {self.num_correction_pairs}")
    return self

  def check_image_shape(self, shape):
    """Raise UserError if an image of (H, W) is too small for the deepest layer."""
    needed = vgg.min_image_side(self.layers())
    if min(shape[:2]) < needed:
      deepest = max(self.layers(), key=vgg.LAYER_NAMES.index)
      raise UserError(
          f"the image is {shape[1]}x{shape[0]} px but {deepest} needs at least "
          f"{needed} px on the shortest side; raise --image_size or use shallower "
          "layers")


def _weights(layers, weights, coefficient):
  if coefficient == 0:
    return {}
  if weights is None:
    weights = [1.0 / len(layers)] * len(layers)
  return dict(zip(layers, (float(w) for w in weights)))


def _check_non_negative(value, flag):
  if not (math.isfinite(value) and value >= 0):
    raise UserError(f"{flag} must be a finite number >= 0, got {value}")
