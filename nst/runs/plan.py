"""What a request runs, and the one loop that runs it.

A request (photograph, artworks, options) becomes a Plan: one scale (single.py), or
coarse-to-fine levels of one-scale runs (levels.py, --pyramid), either of them
after the synthesis of a combined style image (combined.py, --fine_style_image).
`prepare` checks every input of the whole plan before any slow work; `execute` runs
it; `transfer` is the two in one call (the Python API's nst.transfer). The `nst`
command, the figure scripts and nst-batch are thin layers over this module.
"""

import dataclasses
import os

from nst import config
from nst import image as image_lib
from nst import interrupts
from nst import phases
from nst.control import coarse_to_fine
from nst.control import scale_combination
from nst.engine import vgg
from nst.files import remove_stale_parts
from nst.runs import combined
from nst.runs import levels as levels_lib
from nst.runs import single

# What callers of the run path use, from where it is defined.
ARRAY = single.ARRAY
EXIT_NON_FINITE = single.EXIT_NON_FINITE
EXIT_SIGINT = single.EXIT_SIGINT
EXIT_SIGTERM = single.EXIT_SIGTERM
NON_FINITE_HINT = single.NON_FINITE_HINT
Result = single.Result
device = single.device
RunError = single.RunError
final_image = single.final_image
interrupted = single.interrupted
is_interruption = single.is_interruption
style_source = single.style_source


@dataclasses.dataclass
class Request:
  """A run's inputs and its options as given (what each level is prepared from)."""
  content: object
  style: object
  given: dict


@dataclasses.dataclass
class Plan:
  """A checked request: the one-scale run of its result (`run`: the last level's
  with --pyramid), its coarse-to-fine `levels` ([] for one scale) and its scale
  `combination` (combined.Combination, or None)."""
  run: single.Prepared
  levels: list
  combination: object
  request: Request

  # The result's run, as callers read it.
  options = property(lambda self: self.run.options)
  preset = property(lambda self: self.run.preset)
  settings = property(lambda self: self.run.settings)
  content = property(lambda self: self.run.content)
  styles = property(lambda self: self.run.styles)
  init = property(lambda self: self.run.init)
  sources = property(lambda self: self.run.sources)
  artworks = property(lambda self: self.run.artworks)
  photograph = property(lambda self: self.run.photograph)
  output = property(lambda self: self.run.output)
  step_dir = property(lambda self: self.run.step_dir)
  weights_path = property(lambda self: self.run.weights_path)
  normalize_source = property(lambda self: self.run.normalize_source)
  guides = property(lambda self: self.run.guides)
  shape = property(lambda self: self.run.shape)
  paths = property(lambda self: self.run.paths)


def transfer(content, style, output=None, *, preset=None, callback=None, log=None,
             **options):
  """Stylise `content` with `style`; return a Result (.image uint8, .record dict).

  content: a path or an HxWx3 array (integers in 0-255 of any type, or floats in
    0-255 or 0-1).
  style: the same, or a list of them (their Gram matrices blended by
    style_blend_weights; with content_masks, artwork r styles region r).
  output: where to write the image (format by extension) and, beside it, its record
    and plot; None writes nothing.
  preset: one of config.PRESETS (default config.DEFAULT_PRESET); options given here
    override its values.
  callback: called with every optimize.Iterate (at least every 10 iterations).
  options: the `nst` command's flags by name (alpha=1e-3, image_size=256, ...).
  Bad input raises UserError with the CLI's one-line message. Ctrl-C (or SIGTERM,
  where its handler raises interrupts.Terminated) once the start is evaluated returns
  the result so far (record["result"]["partial"] is True; with an output, a
  checkpoint is saved that resume=True continues); before that (reading the inputs,
  the network, the targets, ...) it raises RunError, exit_code 130 or 143, naming the
  phase: nothing was written. One while the outputs are written is held until they
  are complete (result.exit_code then says 130 or 143).
  """
  try:
    plan = prepare(content, style, output, preset=preset, **options)
  except interrupts.INTERRUPTS as e:
    raise interrupted(e) from None
  return execute(plan, callback=callback, log=log)


def prepare(content, style, output=None, *, preset=None, **options):
  """Resolve the options and check every input of the whole plan; raise UserError
  on anything wrong."""
  phases.enter("inputs")
  given = options
  options = config.resolve_options(preset, options)
  levels, options = coarse_to_fine.resolve(options, given)  # the last level's
  combining = scale_combination.enabled(options)
  also_writes, also_reads = {}, []
  if output is not None:
    output = os.fspath(output)
    also_writes.update(levels_lib.written(output, levels))
    also_writes.update(combined.written(output))
    fine = options["fine_style_image"]
    if combining and isinstance(fine, (str, os.PathLike)):
      also_reads.append(("fine_style_image", os.fspath(fine)))
  style_list = single.style_items(style)
  scale_combination.check(options, given, len(style_list))
  run = single.prepare(
      content, style_list, output, preset=preset, options=options,
      also_writes=also_writes, also_reads=also_reads,
      check_sizes=lambda settings, content_shape, eval_mode: _check_sizes(
          settings, content_shape, eval_mode, levels, options, given),
      check_existing=False)
  combination = None
  if combining:  # the synthesis of the new style image, checked
    need = single.style_need(options["image_size"] or None, run.settings)
    fine, fine_path = single.load(options["fine_style_image"], "fine_style_image",
                                  need)
    image_lib.check_min_side(fine, vgg.min_image_side(
        scale_combination.flag_values(options)["fine_style_layers"]),
        single.what("fine_style_image", fine_path), "fine_style_image")
    combination = combined.prepare(options, preset, style_list[0],
                                   options["fine_style_image"], output, run.shape,
                                   run.settings.style_scale, photograph=run.photograph,
                                   loaded=(run.artworks[0], fine))
  if output is not None:
    _check_existing(run, levels, combination)
  return Plan(run=run, levels=levels, combination=combination,
              request=Request(content=content, style=style, given=given))


def _check_sizes(settings, content_shape, eval_mode, levels, options, given):
  """The levels' size and memory checks. A preset's levels (the default's) were not
  asked for, so a size too large for memory is refused as a one-scale run is, naming
  --image_size (at the largest level: the last, or a small result's first)."""
  if levels and "pyramid" not in given:
    largest = max(level.size for level in levels)
    single.check_memory(settings, image_lib.scaled_shape(content_shape, largest),
                        eval_mode)
  coarse_to_fine.check_levels(settings, content_shape, levels, eval_mode)


def _check_existing(run, levels, combination):
  """Never overwrite a result by accident; a checkpoint means resume is wanted (a
  combined run may resume its synthesis before the transfer has a checkpoint)."""
  options, output = run.options, run.output
  resume = options["resume"] and (combination is None or os.path.isfile(
      run.paths["checkpoint"]))
  single.check_existing_outputs(output, resume, options["overwrite"] or (
      options["resume"] and not resume))
  levels_lib.check_outputs(output, levels, options["resume"], options["overwrite"])
  if resume and not levels:  # a corrupt or foreign checkpoint: refused before TF
    single.check_checkpoint(run.paths["checkpoint"], run.settings, run.shape,
                            run.sources["content"], run.sources["style"])


def execute(plan, callback=None, log=None):
  """Run a Plan; write its outputs if it has one; return a Result.

  Raises RunError when nothing could be written (the loss not finite at the start,
  an interruption before the first step: its message names the phase).
  """
  if plan.output is not None:  # a killed run's half-written files of this output
    for path in plan.paths.values():
      remove_stale_parts(path)
  try:
    if plan.combination is not None:  # a new style image first, then the transfer
      return combined.execute(plan.run, plan.combination, plan.levels, plan.request,
                              callback=callback, log=log)
    if plan.levels:  # coarse-to-fine: each level a one-scale run
      return levels_lib.execute(plan.run, plan.levels, plan.request,
                                callback=callback, log=log)
    return single.execute(plan.run, callback=callback, log=log)
  except interrupts.INTERRUPTS as e:  # in a phase before the start's iterate
    raise interrupted(e) from None


def resolved(plan):
  """`plan` with --precision=auto made concrete (single.resolved)."""
  return dataclasses.replace(plan, run=single.resolved(plan.run))


def done_before(plan):
  """The record of `plan`'s output if it is complete and was made with the same
  settings and image size; else None (how grids and batches resume)."""
  return single.done_before(plan.run)


def checkpoint_left(plan):
  """Whether an interrupted run of `plan` left a checkpoint that resume=True
  continues: the run's own, or that of its combined style image's synthesis (how
  batches and grids continue a job instead of starting it again)."""
  if plan.output is None:
    return False
  runs = [plan.run] + ([plan.combination.run] if plan.combination is not None else [])
  return any(r.output is not None and os.path.isfile(r.paths["checkpoint"])
             for r in runs)


def batch_key(plan):
  """Plans with the same key can be optimised as one batch (execute_batch); None:
  this one goes alone (it has levels or a scale combination, resumes a checkpoint
  or has guidance masks)."""
  if plan.levels or plan.combination is not None:
    return None
  return single.batch_key(plan.run)


def execute_batch(plans, callbacks=None, log=None):
  """Run plans of one batch_key as one batch (single.execute_batch): one Result, or
  the RunError that `execute` would raise, per plan, in order."""
  keys = {batch_key(p) for p in plans}
  if len(keys) != 1 or None in keys:
    raise ValueError("execute_batch needs runs of one batch_key, none resuming")
  return single.execute_batch([p.run for p in plans], callbacks=callbacks, log=log)


