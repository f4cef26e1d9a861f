"""Image synthesis by L-BFGS on the pixels (tfp's L-BFGS state, see lbfgs.py).

`stylize` is a generator: it yields an `Iterate` after every chunk of iterations and
keeps all file and terminal I/O out of the optimisation, which runs as one compiled
`tf.function` per chunk. Between chunks the L-BFGS state (position, gradient and
correction-pair history) is carried over, so a chunked run takes exactly the same
steps as an unchunked one. The same code runs on a GPU when TensorFlow sees one.
"""

import collections
import copy
import dataclasses
import os
import time

import numpy as np
import tensorflow as tf
from tensorflow_probability.python.optimizer import lbfgs as tfp_lbfgs

from nst.engine import guidance
from nst.engine import lbfgs
from nst.engine import losses as losses_lib
from nst.engine import vgg
from nst.engine import weights as weights_lib


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
  level: int = None       # coarse-to-fine level, 1-based (runs/levels.py); None: one scale
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
  `eval_mode` is how the value and gradient are computed: "plain" (a traced
  tf.function) or "xla" (the same compiled with XLA); see evalmode.py.

  The network and the compiled functions are shared by every Problem of the same
  weights and the same loss settings (see `_Compiled`): the targets are arguments of
  the traced functions, not constants in them, so a grid of runs of one image shape
  traces its L-BFGS loop once (3-5 s on 2 cores) instead of once a run.

  `guides` (spatial control, spatial.py): None, or (content masks, style masks,
  propagation): one pixel mask [H, W] per region of the photograph, and per artwork
  its mask at the artwork's size or None (the whole artwork). Region r then takes
  artwork r's guided Gram matrices as targets, weighted by blend_weights[r].

  `temporal` (video, nst/video): None, or (target [H, W, 3], weights [H, W],
  temporal_weight): the extra pixel-space term temporal_weight * (1/D) sum c (x -
  target)^2 of losses.total_loss. Its arrays are arguments of the traced functions,
  as the targets are, so the frames of a clip share one trace.
  """

  def __init__(self, content, style, settings, weights_path=None, vgg_weights=None,
               eval_mode="plain", guides=None, temporal=None):
    self.settings = settings
    self.shape = tuple(content.shape)
    self.content_weights = settings.content_weights()
    self.style_weights = settings.style_weights()
    if weights_path is None and vgg_weights is None:
      weights_path = weights_lib.resolve()
    self._weights_source = (weights_path, vgg_weights)
    self.eval_mode = eval_mode
    self._compiled = _compiled(settings, weights_path, vgg_weights, eval_mode)
    self.model = self._compiled.model
    self.content_targets = {}
    if self.content_weights:
      features = self._features(tf.constant(content[None], tf.float32))
      self.content_targets = {l: features[l] for l in self.content_weights}
    self.style_targets = {}
    self.guides = {}  # {style layer: (masks [R, H_l, W_l], region weights [R])}
    if self.style_weights and guides is not None:
      styles = list(style) if isinstance(style, (list, tuple)) else [style]
      self._guided_targets(styles, settings.blend_weights(len(styles)), *guides)
    elif self.style_weights:
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
    self._targets = (self.content_targets, self.style_targets, self.guides)
    if temporal is not None:
      target, weights, temporal_weight = temporal
      self._targets += ((tf.constant(np.asarray(target, np.float32)[None]),
                         tf.constant(np.asarray(weights, np.float32)[None, :, :, None]),
                         tf.constant(float(temporal_weight), tf.float32)),)

  def _features(self, images):
    return self.model(vgg.preprocess(images), training=False)

  def using(self, eval_mode):
    """This problem (same network and targets, nothing recomputed) evaluated the way
    `eval_mode` says."""
    if eval_mode == self.eval_mode:
      return self
    other = copy.copy(self)
    other.eval_mode = eval_mode
    other._compiled = _compiled(self.settings, *self._weights_source, eval_mode)  # pylint: disable=protected-access
    return other

  def _guided_targets(self, styles, blend, content_masks, style_masks, propagation):
    """Per style layer: the photograph's masks at that layer, and artwork r's guided
    Gram matrix (under its own mask, at the scale of the image being synthesised) as
    region r's target. A region whose mask is empty at a layer (e.g. eroded away by
    "inside") is skipped there (weight 0), as in the authors' code."""
    features = [self._features(tf.constant(a[None], tf.float32)) for a in styles]
    for l in self.style_weights:
      masks = np.stack([guidance.layer_mask(m, l, propagation) for m in content_masks])
      targets, weights = [], []
      for r, weight in enumerate(blend):
        f = features[r][l]
        style_mask = (np.ones(f.shape[1:3], np.float32) if style_masks[r] is None
                      else guidance.layer_mask(style_masks[r], l, propagation))
        target = losses_lib.guided_gram(f, style_mask[None])[:, 0]
        if styles[r].shape[:2] != self.shape[:2]:
          target = target * (_positions(self.shape, l) / float(f.shape[1] * f.shape[2]))
        targets.append(target)
        weights.append(weight if masks[r].sum() > 0 and style_mask.sum() > 0 else 0.0)
      self.style_targets[l] = tf.stack(targets, axis=1)  # [1, R, N, N]
      self.guides[l] = (tf.constant(masks), tf.constant(weights, tf.float32))

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
    return self.advance(state, max_iterations)[0]

  def advance(self, state, max_iterations):
    """resume, and the loss terms at the state it reaches (loss_terms's dict), taken
    from the evaluation L-BFGS made there; None where that point was not L-BFGS's
    natural step (then loss_terms gives them, at the cost of a forward pass)."""
    state, flat, known = self._compiled.resume(state, max_iterations, self.shape,
                                               self._targets)
    if flat is None or not bool(np.all(known)):
      return state, None
    return state, self._compiled.unflatten_terms(flat)


class Batch(Problem):
  """Several Problems of one image shape and one compiled loss (the same settings
  but for the images, init and seed) optimised together: L-BFGS on positions [B, D],
  one network pass for all members. The losses reduce per member and tfp's state and
  line search are member-wise (lbfgs.py), so each member takes the steps it would
  take alone (up to the float rounding of a batched convolution); the iteration count
  is shared, so a member that converged early waits, unchanged, for the others."""

  def __init__(self, problems):  # pylint: disable=super-init-not-called
    first = problems[0]
    for other in problems[1:]:
      if other._compiled is not first._compiled or other.shape != first.shape:  # pylint: disable=protected-access
        raise ValueError("a Batch needs problems of one shape and one compiled loss "
                         "(the same settings but for the images)")
    self.problems = list(problems)
    self.settings, self.shape = first.settings, first.shape
    self.content_weights, self.style_weights = first.content_weights, first.style_weights
    self._compiled = first._compiled  # pylint: disable=protected-access
    self._weights_source = first._weights_source  # pylint: disable=protected-access
    self.eval_mode = first.eval_mode
    self.model = first.model
    if any(p.guides for p in problems):
      raise ValueError("guided problems (spatial control) are not batched")
    self.guides = {}
    self.content_targets = {l: tf.concat([p.content_targets[l] for p in problems], 0)
                            for l in first.content_targets}
    self.style_targets = {l: tf.concat([p.style_targets[l] for p in problems], 0)
                          for l in first.style_targets}
    self._targets = (self.content_targets, self.style_targets, self.guides)

  def __len__(self):
    return len(self.problems)


def _traced(function, **options):
  """`function` as a tf.function, without autograph. It traces once per image shape
  and per loss, by design (a pyramid, a batch or the API in a loop brings new ones),
  so TensorFlow's warning that it "triggered tf.function retracing" is a false alarm
  here; it is turned off with the private flag TensorFlow's own SavedModel loader sets
  for the same reason."""
  traced = tf.function(function, autograph=False, **options)
  traced._omit_frequent_tracing_warning = True  # pylint: disable=protected-access
  return traced


class _Compiled:
  """The network and the traced functions of one loss: everything of a Problem but
  its targets and image shape, which are arguments (the shape a Python one: one trace
  per shape)."""

  def __init__(self, settings, model, vgg_weights, eval_mode="plain"):
    if eval_mode not in EVAL_MODES:
      raise ValueError(f"eval_mode must be one of {EVAL_MODES}, got {eval_mode!r}")
    self.settings = settings
    self.model = model
    self._weights = vgg_weights  # alive while this entry is: its id is in the key
    self.content_weights = settings.content_weights()
    self.style_weights = settings.style_weights()
    self.xla = eval_mode == "xla"
    # The loss terms' dict once traced, by its number of terms (a run with a temporal
    # term has one more: nst.video), so that both kinds may share this entry.
    self._terms_structures = {}
    # Traced without autograph: the loss and both L-BFGS loops (ours and tfp's line
    # search) are written with tf.while_loop and tf.cond already, and converting them
    # cost about 2 s a process.
    if self.xla:
      # One XLA program, with the terms as extra outputs: the loop reports them.
      self._evaluate = _traced(self._value_gradients_and_terms, jit_compile=True)
      self.value_and_gradients = lambda *args: self._evaluate(*args)[:2]
    else:
      # One traced evaluation, called (not inlined) wherever the loop evaluates: the
      # line search does so from several places, and each inlined copy of VGG19's
      # forward and backward pass was traced and optimised again (9 s of a new
      # problem's 10 on a 2-core Xeon; now about half).
      once = dict(experimental_attributes={"_noinline": True})
      self.value_and_gradients = _traced(self._value_and_gradients, **once)
      self._evaluate = _traced(self._value_gradients_and_terms, **once)
    self.loss_terms = _traced(self.losses)
    self.resume = _traced(self._resume)

  def losses(self, position, shape, targets):
    content_targets, style_targets, guides, *temporal = targets
    images = tf.reshape(position, (-1,) + shape)
    features = self.model(vgg.preprocess(images), training=False)
    return losses_lib.total_loss(
        features, content_targets, style_targets,
        self.content_weights, self.style_weights,
        self.settings.alpha, self.settings.beta, self.settings.loss_convention,
        images=images, tv_weight=self.settings.tv_weight, guides=guides,
        temporal=temporal[0] if temporal else None)

  def _value_and_gradients(self, position, shape, targets):
    with tf.GradientTape() as tape:
      tape.watch(position)
      total = self.losses(position, shape, targets)["total"]
    # Batch members are independent, so the gradient of the batch sum is each
    # member's own gradient.
    return total, tape.gradient(total, position)

  def _value_gradients_and_terms(self, position, shape, targets):
    """The same, and every loss term (losses()'s dict flattened: [B, T])."""
    with tf.GradientTape() as tape:
      tape.watch(position)
      terms = self.losses(position, shape, targets)
      total = terms["total"]
    gradient = tape.gradient(total, position)
    flat_terms = tf.nest.flatten(terms)
    self._terms_structures[len(flat_terms)] = tf.nest.map_structure(lambda _: 0,
                                                                    terms)
    batch = tf.shape(position)[:1]
    flat = tf.stack([tf.broadcast_to(t, batch) for t in flat_terms], -1)
    return total, gradient, flat

  def unflatten_terms(self, flat):
    """losses()'s dict from _value_gradients_and_terms's flat [B, T] terms."""
    flat = np.asarray(flat)
    return tf.nest.pack_sequence_as(self._terms_structures[flat.shape[-1]],
                                    [flat[:, i] for i in range(flat.shape[-1])])

  def _resume(self, state, max_iterations, shape, targets):
    # The loop calls the traced evaluation (plain) or the XLA-compiled one; the loop
    # itself, tfp's line search included, stays a graph.
    # The loop also returns the loss terms of the point it stops at, from the
    # evaluation made there (lbfgs.minimize's with_terms), so reporting a chunk costs
    # no extra forward pass; not with hager_zhang, which stays tfp's loop exactly.
    evaluate, with_terms = self.value_and_gradients, self._evaluate
    if self.settings.line_search != "unit_first":
      state = lbfgs.minimize(lambda x: evaluate(x, shape, targets), state,
                             max_iterations, self.settings.line_search)
      return state, None, False
    return lbfgs.minimize(lambda x: evaluate(x, shape, targets), state,
                          max_iterations, self.settings.line_search,
                          with_terms=lambda x: with_terms(x, shape, targets))


EVAL_MODES = ("plain", "xla")  # what a Problem takes; "auto" is decided in evalmode.py


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


def _compiled(settings, weights_path, vgg_weights, eval_mode="plain"):
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
  # Only what the traced graph depends on (network, loss, optimiser): not the inputs,
  # the number of steps, or which weights. Masks are arguments of the traced graph;
  # only whether there are any matters.
  loss_key = dataclasses.replace(
      settings.without("inputs", "schedule", "weights"),
      content_masks=("guided",) if settings.content_masks else ())
  return _remember(_COMPILED, (model_key, loss_key, eval_mode),
                   lambda: _Compiled(settings, model, vgg_weights, eval_mode))


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
  if state is None:
    state = problem.start(tf.constant(init_image.reshape(1, -1), tf.float32))
  for iterates in _chunks(problem, state, report_every, elapsed):
    yield iterates[0]


def stylize_batch(batch, init_images, report_every=50):
  """stylize for a Batch: yields a list of Iterates, one a member, each with its own
  losses, image, convergence and state (a checkpoint resumes it alone), until every
  member has finished."""
  position = np.stack([x.reshape(-1) for x in init_images])
  yield from _chunks(batch, batch.start(tf.constant(position, tf.float32)),
                     report_every, 0.0)


def _chunks(problem, state, report_every, elapsed):
  num_steps = problem.settings.num_steps
  start = time.perf_counter() - elapsed
  iterates = _iterates(problem, state, num_steps, start)
  while True:
    yield iterates
    if all(it.finished for it in iterates):
      return
    target = min(iterates[0].iteration + report_every, num_steps)
    state, terms = problem.advance(state, tf.constant(target, tf.int32))
    iterates = _iterates(problem, state, num_steps, start, terms)


def state_to_arrays(state):
  """tfp's L-BFGS state (position, gradient, history, counters) as numpy arrays."""
  return {name: np.asarray(value) for name, value in state._asdict().items()}


def state_from_arrays(arrays):
  """The inverse of state_to_arrays: a state L-BFGS continues from exactly."""
  results = tfp_lbfgs.LBfgsOptimizerResults
  return results(**{name: tf.constant(arrays[name]) for name in results._fields})


def member_state(state, member):
  """Batch member `member` of tfp's L-BFGS state, as the state of a run of its own
  (the batch's shared counters kept)."""
  def pick(name, value):
    if name in ("position_deltas", "gradient_deltas"):  # [history, B, D]
      return value[:, member:member + 1]
    if value.shape.rank:  # [B] or [B, D]
      return value[member:member + 1]
    return value  # the counters, scalars
  return state._replace(**{name: pick(name, value)
                           for name, value in state._asdict().items()})


def _iterates(problem, state, num_steps, start, terms=None):
  """One Iterate per batch member of `state`; the losses are `terms` when the loop
  gave them, else evaluated here (the start, and a chunk that ended on a Hager-Zhang
  step)."""
  if terms is None:
    terms = problem.loss_terms(state.position)
  elapsed = time.perf_counter() - start
  members = int(state.position.shape[0])
  positions = state.position.numpy()
  converged, failed = np.asarray(state.converged), np.asarray(state.failed)
  iterates = []
  for b in range(members):
    value = lambda t: float(np.asarray(t).reshape(-1)[b if np.size(t) > 1 else 0])  # pylint: disable=cell-var-from-loop
    iterates.append(Iterate(
        iteration=int(state.num_iterations),
        num_steps=num_steps,
        evaluations=int(state.num_objective_evaluations),
        losses={
            "total": value(terms["total"]),
            "content": value(terms["content"]),
            "style": value(terms["style"]),
            "tv": value(terms["tv"]),
            **({"temporal": value(terms["temporal"])} if "temporal" in terms else {}),
            "content_layers": {l: value(v) for l, v in terms["content_layers"].items()},
            "style_layers": {l: value(v) for l, v in terms["style_layers"].items()},
        },
        image=positions[b].reshape(problem.shape),
        elapsed=elapsed,
        converged=bool(converged.reshape(-1)[b]),
        failed=bool(failed.reshape(-1)[b]),
        state=state if members == 1 else member_state(state, b),
    ))
  return iterates
