"""Scale control by coarse-to-fine (Gatys et al., "Controlling Perceptual Factors in
Neural Style Transfer", CVPR 2017): a large image made in one go at its final size
against the same image made coarse-to-fine (--pyramid), to the same final size, from
the same start and seed.

The Tübingen photograph in the style of one artwork (the default preset: the
authors' mean losses, so a loss means the same at every size). Two cells: single
scale (--num_steps iterations at --image_size) and coarse-to-fine (--pyramid, ending
at --image_size). high_res.json gives, for each, the final loss at the final size and
the time; for coarse-to-fine also every level and the time at which its last level
first reached the single-scale run's final loss (seconds_to_single_loss).

Times are the runs' optimisation seconds (record result.seconds: L-BFGS, tracing
included; coarse-to-fine summed over its levels), so both are measured alike;
coarse-to-fine's wall_seconds adds what its levels spend on resizing the images and
computing their targets. L-BFGS is traced once per image shape in a process (about
12 s on 2 CPU cores), and the cells run in one process: so that neither time holds a
trace the other was spared, every shape is first traced by a 1-iteration run
(--warm_up, with the local executor; nothing written). Run it on an otherwise idle
machine.

  python scripts/high_res.py --images_dir=../shared/images --quick
  python scripts/high_res.py --images_dir=../shared/images          # 1024 px: long
"""

import json
import os

from absl import flags

import figure_common as common
from nst.runs import figures
from nst.control import coarse_to_fine as pyramid_lib
from nst.errors import UserError

FULL_SIZE = 1024  # the issue's measurement (not the figures' 512)
STYLE = flags.DEFINE_enum("style", "starry_night", list(common.STYLES),
                          "The artwork.")
PYRAMID = flags.DEFINE_string(
    "pyramid", None,
    "Coarse-to-fine levels (size:iterations, the last at the final size). Default: "
    "size/4:num_steps/2, size/2:num_steps/5, size:num_steps/10; with --quick, "
    "size/2:num_steps, size:num_steps/2.")
INIT = flags.DEFINE_enum("init", "content", ["content", "random"],
                         "The start of both runs (random: noise of --seed).")
WARM_UP = flags.DEFINE_bool(
    "warm_up", True,
    "Trace every image shape (a 1-iteration run each) before the timed runs, so that "
    "no run's seconds include tracing (local executor only).")
PRESET = "default"


def final_size():
  if common.IMAGE_SIZE.value is not None:
    return common.IMAGE_SIZE.value
  return common.QUICK_IMAGE_SIZE if common.QUICK.value else FULL_SIZE


def levels(size, num_steps):
  """The --pyramid levels, checked to end at the final size."""
  if PYRAMID.value:
    chosen = pyramid_lib.parse(PYRAMID.value)
  elif common.QUICK.value:
    chosen = [pyramid_lib.Level(size // 2, num_steps),
              pyramid_lib.Level(size, max(1, num_steps // 2))]
  else:
    chosen = [pyramid_lib.Level(size // 4, max(1, num_steps // 2)),
              pyramid_lib.Level(size // 2, max(1, num_steps // 5)),
              pyramid_lib.Level(size, max(1, num_steps // 10))]
  if not chosen or chosen[-1].size != size:
    raise UserError(f"--pyramid: {PYRAMID.value!r} must end at the final size "
                    f"(--image_size={size}), e.g. {size // 2}:100,{size}:50")
  return chosen


def build(folder):
  size, num_steps = final_size(), common.num_steps()
  style_name = common.STYLES[STYLE.value]
  # Both cells get the same images at the final size; coarse-to-fine resizes them
  # down for its coarser levels.
  content, style = figures.load_pair(folder, common.CONTENT, style_name, size)
  start = dict(init=INIT.value, seed=common.SEED.value)
  chosen = levels(size, num_steps)
  pyramid = pyramid_lib.text(chosen)
  warmed = WARM_UP.value and common.EXECUTOR.value == "local"
  if warmed:
    warm_up(folder, content, style, [level.size for level in chosen])
  sources = {"content": common.CONTENT, "style": style_name}
  cells = [
      figures.Cell("coarse_to_fine", 0, 3, dict(start, pyramid=pyramid), content,
                   style, sources=sources, preset=PRESET),
      figures.Cell("single_scale", 0, 2, dict(start, num_steps=num_steps), content,
                   style, sources=sources, preset=PRESET),
  ]
  layout = dict(
      sources={(0, 0): (content, "photograph"), (0, 1): (style, STYLE.value)},
      row_labels=[f"{content.shape[1]}x{content.shape[0]} px"],
      col_labels=["photograph", "painting", f"single scale ({num_steps} its)",
                  f"coarse-to-fine ({pyramid})"],
      title="Scale control: single scale against coarse-to-fine, same final size",
      extra={"image_size": size, "pyramid": pyramid, "style": STYLE.value,
             "init": INIT.value, "preset": PRESET, "warm_up": warmed})
  return cells, layout


def warm_up(folder, content, style, sizes):
  """Trace L-BFGS at every size the runs use, with their settings and network, by a
  1-iteration run each (nothing written): later runs of these shapes in this process
  reuse the traces (optimize.Problem shares them)."""
  from nst.runs import plan as run  # pylint: disable=g-import-not-at-top
  from nst.engine import weights as weights_lib  # pylint: disable=g-import-not-at-top
  print(f"high_res: tracing L-BFGS at {', '.join(f'{s} px' for s in sizes)} first "
        "(--warm_up)", flush=True)
  for size in sizes:
    run.transfer(content, style, preset=PRESET, image_size=size, num_steps=1,
                 init=INIT.value, seed=common.SEED.value, plot=False,
                 vgg_weights=weights_lib.resolve(common.VGG_WEIGHTS.value),
                 normalize_images=figures.reference_images(folder))


def seconds_to_reach(record, loss):
  """Optimisation seconds until the last level's loss first was <= `loss` (levels
  before it counted whole), or None if it never was (history: every 10 its)."""
  levels_run = record["levels"]
  before = sum(level["seconds"] for level in levels_run[:-1])
  for entry in levels_run[-1]["history"]:
    if entry["total"] <= loss:
      return round(before + entry["elapsed"], 3)
  return None


def summarize(cells, output_dir, layout):
  """Caption both cells with their final loss and time; add the comparison."""
  by_name = {cell["name"]: cell for cell in cells}
  single, ctf = by_name["single_scale"], by_name["coarse_to_fine"]
  with open(os.path.join(output_dir, "coarse_to_fine.json"), encoding="utf-8") as f:
    record = json.load(f)
  single_loss = single["losses"]["total"]
  reach = seconds_to_reach(record, single_loss)
  for cell in (single, ctf):
    cell["caption"] = f"loss {cell['losses']['total']:.4g}, {cell['seconds']:.1f} s"
  layout["extra"]["comparison"] = {
      "final_shape": single["shape"],
      "single_scale": {"loss": single_loss, "seconds": single["seconds"],
                       "iterations": single["iterations"]},
      "coarse_to_fine": {
          "loss": ctf["losses"]["total"], "seconds": ctf["seconds"],
          "wall_seconds": record["result"]["wall_seconds"],
          "iterations": ctf["iterations"],
          "seconds_to_single_loss": reach,
          "levels": [{k: level[k] for k in ("level", "size", "shape", "iterations",
                                            "seconds")}
                     | {"initial_loss": level["initial_losses"]["total"],
                        "loss": level["losses"]["total"]}
                     for level in record["levels"]]},
      "reaches_single_loss": reach is not None,
      # The criterion: single scale's final loss in at most half its time.
      "time_ratio": None if reach is None else round(reach / single["seconds"], 4),
  }
  ratio = layout["extra"]["comparison"]["time_ratio"]
  print(f"high_res: single scale loss {single_loss:.4g} in {single['seconds']:.1f} s; "
        f"coarse-to-fine loss {ctf['losses']['total']:.4g} in {ctf['seconds']:.1f} s"
        + (f", reached single scale's loss after {reach:.1f} s ({ratio:.2f} of its "
           "time)" if reach is not None else ", never reached single scale's loss"))


if __name__ == "__main__":
  common.main(lambda: common.run("high_res", build, summarize))
