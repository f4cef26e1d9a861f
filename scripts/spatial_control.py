"""Spatial control (Gatys et al., "Controlling Perceptual Factors in Neural Style
Transfer", CVPR 2017, section 4): the Tübingen photograph with its sky in the style
of one artwork and the town (everything else) in the style of another, from the
guidance mask masks/tubingen_sky.png and its complement ("~" prefix: no file
written), next to the unguided runs with each artwork alone.

Cells use the `paper` preset (the authors' conventions) from the photograph, as the
authors' spatial-control notebook does. Row 1: the guided runs (one per
--propagations: simple, inside) and each artwork alone; row 0 shows the sources.

  python scripts/spatial_control.py --images_dir=../shared/images --quick
"""

import os

from absl import flags

import figure_common as common
from nst.control import color
from nst.runs import figures
from nst.control import spatial

MASK = "masks/tubingen_sky.png"
PRESET = "paper"
OPTIONS = dict(init="content")  # as the authors' notebook: start from the photograph

SKY_STYLE = flags.DEFINE_enum("sky_style", "starry_night", list(common.STYLES),
                              "Artwork for the sky.")
TOWN_STYLE = flags.DEFINE_enum("town_style", "shipwreck", list(common.STYLES),
                               "Artwork for the town, river and trees (not the sky).")
PROPAGATIONS = flags.DEFINE_multi_enum(
    "propagations", list(spatial.PROPAGATIONS), list(spatial.PROPAGATIONS),
    "--mask_propagation of the guided runs (one cell each).")


def build(folder):
  sky, town = SKY_STYLE.value, TOWN_STYLE.value
  content = figures.load_pair(folder, common.CONTENT, common.STYLES[sky],
                              common.image_size())[0]
  artworks = [figures.load_style(folder, common.STYLES[name], content.shape)
              for name in (sky, town)]
  mask_path = os.path.abspath(os.path.join(folder, MASK))
  mask = spatial.load_mask(mask_path, content.shape[:2], "images_dir")
  masks = (mask_path, spatial.COMPLEMENT + mask_path)
  common_options = dict(OPTIONS, num_steps=common.num_steps(), seed=common.SEED.value)
  cells = []
  for col, propagation in enumerate(PROPAGATIONS.value):
    cells.append(figures.Cell(
        f"guided_{propagation}", 1, col,
        dict(common_options, content_masks=masks, mask_propagation=propagation),
        content, artworks, caption=f"sky {sky}, town {town} ({propagation})",
        sources={"content": common.CONTENT, "style": [common.STYLES[sky],
                                                      common.STYLES[town]],
                 "content_masks": [MASK, spatial.COMPLEMENT + MASK]},
        preset=PRESET))
  first = len(PROPAGATIONS.value)
  for col, (name, artwork) in enumerate(zip((sky, town), artworks), start=first):
    cells.append(figures.Cell(
        f"unguided_{name}", 1, col, dict(common_options), content, artwork,
        caption=f"{name} alone", sources={"content": common.CONTENT,
                                          "style": common.STYLES[name]},
        preset=PRESET))
  sources = {(0, 0): (content, "photograph"),
             (0, 1): (color.as_gray_rgb(mask * 255.0), "sky mask")}
  sources.update({(0, col): (artwork, name) for col, (name, artwork) in
                  enumerate(zip((sky, town), artworks), start=first)})
  n_cols = first + 2
  layout = dict(
      sources=sources, row_labels=["sources", "results"],
      col_labels=[chr(ord("A") + i) for i in range(n_cols)],
      title=f"Spatial control: sky in {sky}, town in {town}; each alone",
      extra={"preset": PRESET, "options": OPTIONS, "mask": MASK,
             "sky_style": sky, "town_style": town,
             "propagations": list(PROPAGATIONS.value)})
  return cells, layout


if __name__ == "__main__":
  common.main(lambda: common.run("spatial_control", build),
              full_num_steps=common.CONTROL_NUM_STEPS)
