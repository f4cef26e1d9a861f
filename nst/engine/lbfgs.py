"""L-BFGS over tfp's state, with a line search that tries the natural step first.

`tfp.optimizer.lbfgs_minimize` always hands its Hager-Zhang line search a bracketing
phase and a secant step, even when the unit step L-BFGS proposes already satisfies the
Wolfe conditions; on our problems that is about 3 value-and-gradient evaluations per
iteration where L-BFGS needs about 1 (scipy's L-BFGS-B: 1.02). Each evaluation is a
full VGG19 forward and backward pass, so this module runs the same L-BFGS iteration
(tfp's two-loop recursion, correction-pair queue and state type, so checkpoints and
`tfp.optimizer.lbfgs_minimize` results are interchangeable) with one change: the line
search first evaluates the natural step and accepts it if it satisfies the Wolfe
conditions; otherwise tfp's Hager-Zhang search continues from that evaluation.

Without curvature pairs (the first iteration, or after a restart) there is no natural
step: the raw gradient's scale is arbitrary. There the first trial step (one grey
level for the most-changed pixel) grows until it satisfies the Wolfe conditions, as
scipy's L-BFGS-B does from its own small first step (_grow_first_step): leaving it to
Hager-Zhang instead made the whole run slower (benchmarks/README.md, Optimiser).
"""

import tensorflow as tf
from tensorflow_probability.python.internal import prefer_static as ps
from tensorflow_probability.python.optimizer import bfgs_utils
from tensorflow_probability.python.optimizer import lbfgs as tfp_lbfgs
from tensorflow_probability.python.optimizer import linesearch
from tensorflow_probability.python.optimizer.linesearch.internal import (
    hager_zhang_lib as hzl)

from nst.engine.choices import LINE_SEARCHES

# Wolfe constants of scipy's L-BFGS-B (ftol, gtol), the optimiser of the authors' code.
SUFFICIENT_DECREASE = 1e-3
CURVATURE = 0.9
MAX_LINE_SEARCH_ITERATIONS = 50
# Without history: the first trial step grows by this factor (at most this many times)
# until it satisfies the Wolfe conditions (_grow_first_step).
FIRST_STEP_GROWTH = 4.0
MAX_FIRST_STEP_GROWTHS = 30


def initial_state(value_and_gradients, position, num_correction_pairs):
  """tfp's L-BFGS state at `position` [B, D]: one evaluation, empty history."""
  return tfp_lbfgs._get_initial_state(  # pylint: disable=protected-access
      value_and_gradients, position, num_correction_pairs, tolerance=0.0)


def minimize(value_and_gradients, state, max_iterations, line_search="unit_first",
             with_terms=None):
  """Continue L-BFGS from `state` until `max_iterations` iterations in total, or until
  every batch member has converged (zero step or gradient) or failed.

  All tolerances are zero: the loss of this problem spans 1e1 to 1e12 with alpha, beta
  and image size, so any fixed tolerance would stop some runs early and not others.
  `line_search="hager_zhang"` is exactly `tfp.optimizer.lbfgs_minimize`'s iteration.

  with_terms: optional, the same evaluation also returning the terms that make up the
  value, flat [B, T] (position -> (value, gradient, terms)); with it (and unit_first)
  the result is (state, terms [B, T] at the final position, known [B]), so that the
  caller need not evaluate the final position again to report its terms. known is
  False for a member whose last step was not L-BFGS's natural step (Hager-Zhang's
  search does not say which of its evaluations it kept): its terms are then zeros.
  """
  if line_search not in LINE_SEARCHES:
    raise ValueError(f"line_search must be one of {LINE_SEARCHES}, got {line_search!r}")
  if with_terms is not None and line_search == "unit_first":
    return _minimize_with_terms(value_and_gradients, with_terms, state, max_iterations)
  zero = tf.zeros([], state.position.dtype)

  def cond(state):
    return ((state.num_iterations < max_iterations)
            & ~bfgs_utils.converged_all(state.converged, state.failed))

  def body(state):
    state = bfgs_utils.terminate_if_not_finite(state)
    if line_search == "hager_zhang":
      direction = tfp_lbfgs._get_search_direction(state)  # pylint: disable=protected-access
      next_state = bfgs_utils.line_search_step(
          state, value_and_gradients, direction, zero, zero, zero,
          bfgs_utils.converged_all, MAX_LINE_SEARCH_ITERATIONS, zero)
      restart = tf.zeros_like(next_state.failed)
      return [_push_history(state, next_state, restart)]
    return [_unit_first_step(state, value_and_gradients)]

  return tf.while_loop(cond, body, [state])[0]


def _minimize_with_terms(value_and_gradients, with_terms, state, max_iterations):
  """minimize's unit_first loop, carrying the terms of the accepted natural steps."""

  def cond(state, terms, known):
    del terms, known
    return ((state.num_iterations < max_iterations)
            & ~bfgs_utils.converged_all(state.converged, state.failed))

  def body(state, terms, known):
    state = bfgs_utils.terminate_if_not_finite(state)
    inactive = state.failed | state.converged
    next_state, step_terms, accepted = _unit_first_step(
        state, value_and_gradients, with_terms)
    # A member that did not move keeps what it knew; one that moved knows its terms
    # only if the point it moved to is the natural step just evaluated.
    # (terms is [B, 0] before the first step: padded with zeros to [B, T].)
    before = tf.concat([terms, tf.zeros_like(step_terms)], -1)[:, :step_terms.shape[-1]]
    terms = tf.where(accepted[..., tf.newaxis], step_terms, before)
    known = tf.where(inactive, known, accepted)
    return [next_state, terms, known]

  batch = state.position.shape[0]
  terms = tf.zeros([batch, 0], state.position.dtype)  # T is known once body is traced
  known = tf.zeros([batch], tf.bool)
  state_shapes = tf.nest.map_structure(lambda t: t.shape, state)
  return tuple(tf.while_loop(
      cond, body, [state, terms, known],
      shape_invariants=[state_shapes, tf.TensorShape([batch, None]), known.shape]))


def _push_history(state, next_state, restart):
  """tfp's history update: push the step and the gradient change unless the member
  stopped; a member that restarts (see minimize) drops its whole history."""
  push = ~(next_state.converged | next_state.failed | restart)
  keep = ~restart[tf.newaxis, :, tf.newaxis]
  return next_state._replace(
      position_deltas=tf.where(keep, tfp_lbfgs._queue_push(  # pylint: disable=protected-access
          state.position_deltas, push, next_state.position - state.position), 0.0),
      gradient_deltas=tf.where(keep, tfp_lbfgs._queue_push(  # pylint: disable=protected-access
          state.gradient_deltas, push,
          next_state.objective_gradient - state.objective_gradient), 0.0))


def has_history(state):
  """[B]: whether a member has a correction pair (the newest is never zero after a
  step; the queue is zero at the start and after a restart)."""
  return tf.reduce_any(tf.not_equal(state.position_deltas[-1], 0), axis=-1)


def _first_step(direction, history):
  """Step length to try: 1 once L-BFGS has curvature pairs (its direction is then
  scaled by s'y/y'y); without them (the first iteration, or after a restart) the
  direction is the raw gradient, whose scale is arbitrary (1e-2 to 1e8 with alpha,
  beta and image size), so try the step that changes the most-changed pixel by one
  grey level (and grow it from there: _grow_first_step)."""
  largest = tf.reduce_max(tf.abs(direction), axis=-1)
  first = tf.math.divide_no_nan(tf.ones_like(largest), largest)
  return tf.where(history, tf.ones_like(largest), first)


def _grow_first_step(probe, state, slope_0, step, val_step, terms, growing):
  """Along the raw gradient (members `growing`: no history), multiply the step by
  FIRST_STEP_GROWTH while it decreases the loss enough but is too short for the
  curvature condition, and stop at the first step that satisfies the Wolfe conditions
  (or that decreases too little: Hager-Zhang then searches between 0 and it).

  This is what L-BFGS-B's More-Thuente search does from its small first trial step,
  and it matters far beyond the first iteration: Hager-Zhang from the same trial
  bracketed and went on to the minimum along the gradient (a step of ~70 grey
  levels from noise), after which L-BFGS reached a 4x higher loss at 1000
  evaluations than from L-BFGS-B's short first step (benchmarks/README.md).
  Returns (step, value, terms, evaluations made)."""
  f_0 = state.objective_value

  def too_short(t, val):
    return (growing & tf.math.is_finite(val.f)
            & (val.f <= f_0 + SUFFICIENT_DECREASE * t * slope_0)
            & (val.df < CURVATURE * slope_0))

  def cond(t, val, terms, n):
    del terms
    return tf.reduce_any(too_short(t, val)) & (n < MAX_FIRST_STEP_GROWTHS)

  def body(t, val, terms, n):
    grow = too_short(t, val)
    t = tf.where(grow, t * FIRST_STEP_GROWTH, t)
    new_val, new_terms = probe(t)
    return (t, hzl.val_where(grow, new_val, val),
            tf.where(grow[..., tf.newaxis], new_terms, terms), n + 1)

  return tf.while_loop(cond, body, [step, val_step, terms, tf.constant(0)])


def _line_with_terms(with_terms, position, direction, t):
  """tfp's restriction of the function to the line (bfgs_utils's
  _restrict_along_direction, the same operations) at step `t`, and the terms."""
  point = position + t[..., tf.newaxis] * direction
  value, gradient, terms = with_terms(point)
  return bfgs_utils.ValueAndGradient(
      x=bfgs_utils._broadcast(t, position), f=value,  # pylint: disable=protected-access
      df=tf.reduce_sum(gradient * direction, axis=-1), full_gradient=gradient), terms


def _unit_first_step(state, value_and_gradients, with_terms=None):
  """One L-BFGS iteration, its history pushed: evaluate the natural step along the
  L-BFGS direction (the gradient's without history); keep it if it satisfies the Wolfe
  conditions, else let tfp's Hager-Zhang search go on from that evaluation.

  With `with_terms` (see minimize), returns (state, the natural step's terms, whether
  it was kept)."""
  history = has_history(state)
  direction = tf.where(
      history[..., tf.newaxis],
      tfp_lbfgs._get_search_direction(state),  # pylint: disable=protected-access
      -state.objective_gradient)
  line = bfgs_utils._restrict_along_direction(  # pylint: disable=protected-access
      value_and_gradients, state.position, direction)
  slope_0 = tf.reduce_sum(state.objective_gradient * direction, axis=-1)
  val_0 = bfgs_utils.ValueAndGradient(
      x=tf.zeros_like(slope_0), f=state.objective_value, df=slope_0,
      full_gradient=state.objective_gradient)
  inactive = state.failed | state.converged

  def probe(t):
    if with_terms is None:
      return line(t), tf.zeros([ps.shape(slope_0)[0], 0], state.position.dtype)
    return _line_with_terms(with_terms, state.position, direction, t)

  step = _first_step(direction, history)
  val_step, step_terms = probe(step)
  step, val_step, step_terms, grown = _grow_first_step(
      probe, state, slope_0, step, val_step, step_terms, ~inactive & ~history)
  # Weak Wolfe; the strong form (|slope| bound) made no measurable difference here.
  wolfe = (tf.math.is_finite(val_step.f) & (slope_0 < 0)
           & (val_step.f <= state.objective_value + SUFFICIENT_DECREASE * step * slope_0)
           & (val_step.df >= CURVATURE * slope_0))
  accepted = wolfe & ~inactive
  done = inactive | accepted

  # With every member done, tfp's search returns at once without evaluating.
  result = linesearch.hager_zhang(
      line, value_at_zero=val_0, value_at_initial_step=val_step, converged=done,
      max_iterations=MAX_LINE_SEARCH_ITERATIONS)
  left = hzl.val_where(accepted, val_step, result.left)
  found = accepted | result.converged

  after_search = state._replace(
      failed=state.failed | (~state.converged & ~found),
      num_iterations=state.num_iterations + 1,
      num_objective_evaluations=(state.num_objective_evaluations + 1 + grown
                                 + result.func_evals))

  def move():
    delta = tf.where(inactive[..., tf.newaxis], tf.zeros_like(direction),
                     direction * left.x[..., tf.newaxis])
    zero = tf.zeros([], state.position.dtype)
    return bfgs_utils._update_position(  # pylint: disable=protected-access
        after_search, delta, left.f, left.full_gradient, zero, zero, zero, zero)

  next_state = ps.cond(bfgs_utils.converged_all(state.converged, state.failed),
                       lambda: after_search, move)
  # As L-BFGS-B: a line search that fails along the L-BFGS direction is not the end;
  # the history is dropped and the next iteration searches along the gradient (with
  # the first iteration's step). Only a failure without history stops the run.
  restart = next_state.failed & ~state.failed & history
  next_state = _push_history(
      state, next_state._replace(failed=next_state.failed & ~restart), restart)
  if with_terms is None:
    return next_state
  return next_state, step_terms, accepted
