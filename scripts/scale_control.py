"""Scale control by combining two artworks (Gatys et al., "Controlling Perceptual
Factors in Neural Style Transfer", CVPR 2017): the Tübingen photograph in the style
of one artwork (--coarse_style, default The Starry Night), of another
(--fine_style, default The Scream), and of a new style image that has the first
one's coarse scale and the second one's fine scale (nst --fine_style_image; see
nst/control/scale_combination.py): synthesised from the coarse artwork with the fine artwork's Gram
matrices at --fine_style_layers (default relu1_1,relu2_1, the authors' code at 512
px), --fine_style_steps iterations (default: as many as the transfers).

Cells use the `paper` preset (the authors' conventions) from the photograph, as the
authors' scale-control notebook does, with --color_control (default none; the
notebook matches both artworks' colours to the photograph first, which `histogram`
does, see nst/control/scale_combination.py). Row 1: Tübingen in the coarse artwork, in the fine one,
in the combined style; row 0 shows the photograph and, above each result, its style
image (the combined one as synthesised).

  python scripts/scale_control.py --images_dir=../shared/images --quick
"""

import json
import os

from absl import flags

import figure_common as common
from nst.control import color
from nst.runs import figures
from nst import image as image_lib
from nst.control import scale_combination as scale
from nst.errors import UserError

PRESET = "paper"
OPTIONS = dict(init="content")  # as the authors' notebook: start from the photograph

COARSE_STYLE = flags.DEFINE_enum(
    "coarse_style", "starry_night", list(common.STYLES),
    "The artwork whose coarse scale (large structures) the combined style keeps.")
FINE_STYLE = flags.DEFINE_enum(
    "fine_style", "scream", list(common.STYLES),
    "The artwork whose fine scale (small-scale texture) the combined style takes.")
FINE_STYLE_LAYERS = flags.DEFINE_list(
    "fine_style_layers", list(scale.DEFAULT_LAYERS),
    "The shallow layers matched to the fine artwork (nst --fine_style_layers).")
FINE_STYLE_STEPS = flags.DEFINE_integer(
    "fine_style_steps", None,
    "Iterations of the combined style's synthesis. Default: --num_steps.")
COLOR_CONTROL = flags.DEFINE_enum(
    "color_control", "none", list(color.COLOR_CONTROLS),
    "--color_control of every cell.")


def fine_style_steps():
  if FINE_STYLE_STEPS.value is not None:
    return FINE_STYLE_STEPS.value
  return common.num_steps()


def combined_name(coarse, fine):
  return f"combined_{coarse}__{fine}"


def build(folder):
  coarse, fine = COARSE_STYLE.value, FINE_STYLE.value
  if coarse == fine:
    raise UserError(f"--coarse_style and --fine_style are both {coarse}; give two "
                    "artworks")
  content = figures.load_pair(folder, common.CONTENT, common.STYLES[coarse],
                              common.image_size())[0]
  # Both artworks as every figure uses them: at the photograph's size.
  artworks = [figures.load_style(folder, common.STYLES[name], content.shape)
              for name in (coarse, fine)]
  common_options = dict(OPTIONS, num_steps=common.num_steps(), seed=common.SEED.value,
                        color_control=COLOR_CONTROL.value)
  combined = dict(fine_style_image=artworks[1],
                  fine_style_layers=tuple(FINE_STYLE_LAYERS.value),
                  fine_style_steps=fine_style_steps())
  cells = [
      # Cells are named after their artworks, so that another choice is another cell.
      figures.Cell(coarse, 1, 1, dict(common_options), content, artworks[0],
                   caption=f"{coarse} alone",
                   sources={"content": common.CONTENT, "style": common.STYLES[coarse]},
                   preset=PRESET),
      figures.Cell(fine, 1, 2, dict(common_options), content, artworks[1],
                   caption=f"{fine} alone",
                   sources={"content": common.CONTENT, "style": common.STYLES[fine]},
                   preset=PRESET),
      figures.Cell(combined_name(coarse, fine), 1, 3, dict(common_options, **combined),
                   content, artworks[0], caption=f"coarse {coarse}, fine {fine}",
                   sources={"content": common.CONTENT, "style": common.STYLES[coarse],
                            "fine_style_image": common.STYLES[fine]},
                   preset=PRESET),
  ]
  layout = dict(
      sources={(0, 0): (content, "photograph"), (0, 1): (artworks[0], coarse),
               (0, 2): (artworks[1], fine)},
      row_labels=["style images", "results"],
      col_labels=["photograph", "coarse", "fine", "combined"],
      title=f"Scale control: coarse scale of {coarse}, fine scale of {fine}",
      extra={"preset": PRESET, "options": OPTIONS, "coarse_style": coarse,
             "fine_style": fine, "fine_style_layers": list(FINE_STYLE_LAYERS.value),
             "fine_style_steps": fine_style_steps(),
             "color_control": COLOR_CONTROL.value})
  return cells, layout


def summarize(records, output_dir, layout):
  """The combined cell's style image, as synthesised, above its result; its
  synthesis (layers, iterations, losses) in the figure's JSON."""
  name = combined_name(layout["extra"]["coarse_style"], layout["extra"]["fine_style"])
  path = scale.style_output(os.path.join(output_dir, name + ".png"))
  layout["sources"][(0, 3)] = (image_lib.load_image(path), "combined style")
  layout["extra"]["combined_style_image"] = os.path.basename(path)
  for record in records:
    if record["name"] == name:
      with open(os.path.join(output_dir, name + ".json"), encoding="utf-8") as f:
        record["fine_style"] = json.load(f)["fine_style"]


if __name__ == "__main__":
  common.main(lambda: common.run("scale_control", build, summarize),
              full_num_steps=common.CONTROL_NUM_STEPS)
