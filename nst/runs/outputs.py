"""The one writer of a run's files: its image, loss plot, record and checkpoint, and
the step images of --save_per_step. Every kind of run (one scale, coarse-to-fine
levels, a combined style image) writes through here, each file atomically
(files.atomic_path); callers hold signals while they write (interrupts.held)."""

import os
import re

from nst import image as image_lib
from nst import plot as plot_lib
from nst.runs import records

REMOVE = "remove"  # the run is complete: its checkpoint, if any, is stale
KEEP = "keep"      # leave whatever checkpoint there is (a run stopped non-finite)

STEP_IMAGE = re.compile(r"step_\d{5}\.png")  # what --save_per_step writes
STEP_PART = re.compile(r"\.step_\d{5}\.png\..+\.part\.png")  # files.atomic_path's


def plot_of(history, settings, title):
  """What write() needs to draw a run's loss curves."""
  return dict(history=history, settings=settings, title=title)


def write(paths, image, record, *, plot=None, checkpoint=REMOVE):
  """Write a run's outputs to `paths` (records.paths): the image (float or uint8 RGB
  0-255), the loss plot (plot_of(...), or None for none; its path goes into
  record["result"]["plot"]), the record, then the checkpoint: REMOVE, KEEP, or
  (state arrays, meta) to save one that --resume continues."""
  image_lib.save_image(paths["image"], image)
  if plot is not None:
    settings = plot["settings"]
    curves = plot_lib.loss_curves(plot["history"], settings.alpha, settings.beta,
                                  title=plot["title"], tv_weight=settings.tv_weight)
    record["result"]["plot"] = os.path.abspath(image_lib.save_image(paths["plot"],
                                                                    curves))
  records.write_record(paths["record"], record)
  write_checkpoint(paths, checkpoint)


def write_checkpoint(paths, checkpoint):
  """The checkpoint part of write(): REMOVE, KEEP or (state arrays, meta)."""
  if checkpoint == KEEP:
    return
  if checkpoint == REMOVE:
    if os.path.exists(paths["checkpoint"]):
      os.remove(paths["checkpoint"])  # the run it belonged to is complete
    return
  arrays, meta = checkpoint
  records.save_checkpoint(paths["checkpoint"], arrays, meta)


def write_step(step_dir, iteration, image):
  """--save_per_step's image of `iteration` in `step_dir`."""
  return image_lib.save_image(os.path.join(step_dir, f"step_{iteration:05d}.png"), image)


def write_image(path, image):
  """An image alone (a combined style image of 0 synthesis steps)."""
  return image_lib.save_image(path, image)
