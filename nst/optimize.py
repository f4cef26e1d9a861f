"""Image synthesis by L-BFGS on the pixels (tfp's L-BFGS state, see lbfgs.py).

`stylize` is a generator: it yields an `Iterate` after every chunk of iterations and
keeps all file and terminal I/O out of the optimisation, which runs as one compiled
`tf.function` per chunk. Between chunks the L-BFGS state (position, gradient and
correction-pair history) is carried over, so a chunked run takes exactly the same
steps as an unchunked one. The same code runs on a GPU when TensorFlow sees one.
"""

import collections
import dataclasses
import os
import time

import numpy as np
import tensorflow as tf
from tensorflow_probability.python.optimizer import lbfgs as tfp_lbfgs

from nst import lbfgs
from nst import losses as losses_lib
from nst import vgg


@dataclasses.dataclass
class Iterate:
  """The state of a run after `iteration` L-BFGS iterations."""
  iteration: int
  num_steps: int
  evaluations: int        # value-and-gradient evaluations so far, line search included
  losses: dict            # total, content, style (floats); content_layers, style_layers
  image: np.ndarray       # float32 RGB 0-255 [H, W, 3], not clipped
  elapsed: float          # seconds since the optimisation started (tracing included)
  converged: bool         # gradient or step exactly zero: L-BFGS cannot improve further
  failed: bool            # the line search found no decrease (or a value was not finite)
  state: object = None    # tfp's LBfgsOptimizerResults: what a checkpoint saves
  level: int = None       # coarse-to-fine level, 1-based (pyramid.py); None: one scale
  num_levels: int = None

  @property
  def finite(self):
    return bool(np.isfinite(self.losses["total"]) and np.isfinite(self.image).all())

  @property
  def finished(self):
    return (self.iteration >= self.num_steps or self.converged or self.failed
            or not self.finite)

  @property
  def eta(self):
    """Seconds left at the average speed so far (None before the first iteration)."""
    if self.finished:
      return 0.0
    if self.iteration == 0:
      return None
    return self.elapsed / self.iteration * (self.num_steps - self.iteration)


def initial_image(init, content, style, seed):
  """The starting image: 'random' (uniform noise in 0-255), 'content', 'style',
  'white', or an RGB array (resized by the caller to the content image's shape)."""
  if isinstance(init, np.ndarray):
    return init.astype(np.float32)
  if init == "random":
    return np.random.default_rng(seed).uniform(0, 255, content.shape).astype(np.float32)
  if init == "content":
    return content.astype(np.float32)
  if init == "style":
    return style.astype(np.float32)
  if init == "white":
    return np.full(content.shape, 255.0, np.float32)
  raise ValueError(f"unknown init {init!r}")


class Problem:
  """The loss of one image given a photograph, one or more artworks and the settings.

  Builds the VGG19 feature model (truncated at the deepest layer used) and computes the
  targets, the photograph's content activations P_l and the artworks' Gram matrices,
  once. With several artworks (a list for `style`) the target is the blend
  A_l = sum_i w_i A_l(i) with settings.blend_weights; an artwork of another size than
  the photograph has its Gram matrices scaled by M_l(photograph) / M_l(artwork), so that
  every target is on the scale of the image being synthesised. `value_and_gradients`
  is what L-BFGS calls on flat float32 positions [B, D]. Without `weights_path` or
  `vgg_weights` the weights are found as the CLI finds them (weights.resolve).

  The network and the compiled functions are shared by every Problem of the same
  weights and the same loss settings (see `_Compiled`): the targets are arguments of
  the traced functions, not constants in them, so a grid of runs of one image shape
  traces its L-BFGS loop once (about 12 s on 2 cores) instead of once a run.
  """

  def __init__(self, content, style, settings, weights_path=None, vgg_weights=None):
    self.settings = settings
    self.shape = tuple(content.shape)
    self.content_weights = settings.content_weights()
    self.style_weights = settings.style_weights()
    if weights_path is None and vgg_weights is None:
      from nst import weights as weights_lib  # pylint: disable=g-import-not-at-top
      weights_path = weights_lib.resolve()
    self._compiled = _compiled(settings, weights_path, vgg_weights)
    self.model = self._compiled.model
    self.content_targets = {}
    if self.content_weights:
      features = self._features(tf.constant(content[None], tf.float32))
      self.content_targets = {l: features[l] for l in self.content_weights}
    self.style_targets = {}
    if self.style_weights:
      styles = list(style) if isinstance(style, (list, tuple)) else [style]
      blend = settings.blend_weights(len(styles))
      for artwork, weight in zip(styles, blend):
        features = self._features(tf.constant(artwork[None], tf.float32))
        for l in self.style_weights:
          target = losses_lib.gram(features[l])
          if len(styles) > 1:
            target = weight * target
          if artwork.shape[:2] != self.shape[:2]:
            target = target * (_positions(self.shape, l)
                               / float(features[l].shape[1] * features[l].shape[2]))
          self.style_targets[l] = (target if l not in self.style_targets
                                   else self.style_targets[l] + target)
    self._targets = (self.content_targets, self.style_targets)

  def _features(self, images):
    return self.model(vgg.preprocess(images), training=False)

  def losses(self, position):
    """All loss terms (see losses.total_loss) for flat positions [B, D] (eager, or
    inside a caller's tf.function)."""
    return self._compiled.losses(position, self.shape, self._targets)

  def value_and_gradients(self, position):
    return self._compiled.value_and_gradients(position, self.shape, self._targets)

  def value_and_gradients_python(self, position):
    """The same, not compiled: for a caller's own tf.function (e.g. with XLA)."""
    return self._compiled._value_and_gradients(  # pylint: disable=protected-access
        position, self.shape, self._targets)

  def loss_terms(self, position):
    return self._compiled.loss_terms(position, self.shape, self._targets)

  def start(self, position):
    """L-BFGS's initial state at `position` [B, D] (one evaluation, no history).
    Eager on purpose: the while loop is traced once, in `resume`, not twice."""
    return lbfgs.initial_state(self.value_and_gradients, position,
                               self.settings.num_correction_pairs)

  def resume(self, state, max_iterations):
    """Continue L-BFGS from `state` (which keeps the correction-pair history) up to
    `max_iterations` iterations in total."""
    return self._compiled.resume(state, max_iterations, self.shape, self._targets)


class _Compiled:
  """The network and the traced functions of one loss: everything of a Problem but
  its targets and image shape, which are arguments (the shape a Python one: one trace
  per shape)."""

  def __init__(self, settings, model, vgg_weights):
    self.settings = settings
    self.model = model
    self._weights = vgg_weights  # alive while this entry is: its id is in the key
    self.content_weights = settings.content_weights()
    self.style_weights = settings.style_weights()
    self.value_and_gradients = tf.function(self._value_and_gradients)
    self.loss_terms = tf.function(self.losses)
    self.resume = tf.function(self._resume)

  def losses(self, position, shape, targets):
    content_targets, style_targets = targets
    images = tf.reshape(position, (-1,) + shape)
    features = self.model(vgg.preprocess(images), training=False)
    return losses_lib.total_loss(
        features, content_targets, style_targets,
        self.content_weights, self.style_weights,
        self.settings.alpha, self.settings.beta, self.settings.loss_convention,
        images=images, tv_weight=self.settings.tv_weight)

  def _value_and_gradients(self, position, shape, targets):
    with tf.GradientTape() as tape:
      tape.watch(position)
      total = self.losses(position, shape, targets)["total"]
    # Batch members are independent, so the gradient of the batch sum is each
    # member's own gradient.
    return total, tape.gradient(total, position)

  def _resume(self, state, max_iterations, shape, targets):
    return lbfgs.minimize(lambda x: self._value_and_gradients(x, shape, targets),
                          state, max_iterations, self.settings.line_search)


# Shared networks and compiled losses, most recent last. Bounded: each entry holds a
# network (80 MB of weights when given as arrays) and its traced graphs.
_CACHE_SIZE = 4
_MODELS = collections.OrderedDict()
_COMPILED = collections.OrderedDict()


def _remember(cache, key, make):
  if key in cache:
    cache.move_to_end(key)
  else:
    cache[key] = make()
    while len(cache) > _CACHE_SIZE:
      cache.popitem(last=False)
  return cache[key]


def _compiled(settings, weights_path, vgg_weights):
  """The network and compiled loss of `settings` with these weights, built once.

  Weights given as arrays are known by identity (run.network reads them once a
  process; the cache entry keeps them alive, so an id is never reused for other
  arrays); a weights file by its path and modification time.
  """
  if vgg_weights is not None:
    source = ("arrays", id(vgg_weights))
  else:
    path = os.path.abspath(weights_path)
    source = ("file", path, os.path.getmtime(path))
  layers = tuple(settings.layers())
  model_key = (source, layers, settings.pooling, settings.precision)
  model = _remember(_MODELS, model_key, lambda: (
      vgg.build_feature_model(weights_path, layers, settings.pooling,
                              weights=vgg_weights, precision=settings.precision),
      vgg_weights))[0]
  # Only what the traced graph depends on; images, seeds and step counts are not.
  loss_key = dataclasses.replace(
      settings, init="random", seed=0, num_steps=0, normalize_vgg=False,
      style_blend_weights=None, style_scale=None, color_control="none",
      histogram_match="image_analogies")
  return _remember(_COMPILED, (model_key, loss_key),
                   lambda: _Compiled(settings, model, vgg_weights))

def _positions(shape, layer):
  """M_l, the number of positions of `layer` for an image of `shape` (H, W, ...)."""
  stride = 2 ** vgg.downsampling(layer)
  return float((shape[0] // stride) * (shape[1] // stride))


def stylize(problem, init_image=None, report_every=50, state=None, elapsed=0.0):
  """Run L-BFGS; yield an Iterate at the start, then every `report_every` iterations,
  and at the end (num_steps, or earlier if it stopped or a value became non-finite).

  Starts from `init_image`, or continues a saved `state` (see state_from_arrays) whose
  run had already taken `elapsed` seconds.
  """
  num_steps = problem.settings.num_steps
  start = time.perf_counter() - elapsed
  if state is None:
    state = problem.start(tf.constant(init_image.reshape(1, -1), tf.float32))
  while True:
    iterate = _iterate(problem, state, num_steps, start)
    yield iterate
    if iterate.finished:
      return
    target = min(iterate.iteration + report_every, num_steps)
    state = problem.resume(state, tf.constant(target, tf.int32))


def state_to_arrays(state):
  """tfp's L-BFGS state (position, gradient, history, counters) as numpy arrays."""
  return {name: np.asarray(value) for name, value in state._asdict().items()}


def state_from_arrays(arrays):
  """The inverse of state_to_arrays: a state L-BFGS continues from exactly."""
  results = tfp_lbfgs.LBfgsOptimizerResults
  return results(**{name: tf.constant(arrays[name]) for name in results._fields})


def _iterate(problem, state, num_steps, start):
  terms = problem.loss_terms(state.position)
  scalar = lambda t: float(np.asarray(t).reshape(-1)[0])
  return Iterate(
      iteration=int(state.num_iterations),
      num_steps=num_steps,
      evaluations=int(state.num_objective_evaluations),
      losses={
          "total": scalar(terms["total"]),
          "content": scalar(terms["content"]),
          "style": scalar(terms["style"]),
          "tv": scalar(terms["tv"]),
          "content_layers": {l: scalar(v) for l, v in terms["content_layers"].items()},
          "style_layers": {l: scalar(v) for l, v in terms["style_layers"].items()},
      },
      image=state.position.numpy().reshape(problem.shape),
      elapsed=time.perf_counter() - start,
      converged=bool(np.all(state.converged)),
      failed=bool(np.all(state.failed)),
      state=state,
  )
