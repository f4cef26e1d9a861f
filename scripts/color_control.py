"""Colour control (Gatys et al., "Controlling Perceptual Factors in Neural Style
Transfer", CVPR 2017, section 5): the Tübingen photograph in the style of one artwork
(default The Starry Night) transferred as usual, on luminance only, and with the
artwork's colours matched to the photograph's first (both variants of the match).

Cells use the `paper` preset (the authors' conventions) from the photograph, as the
authors' colour-control notebook does. Row 1: standard, luminance-only, histogram
(image analogies: symmetric square roots), histogram (Cholesky); row 0 shows the
sources.

  python scripts/color_control.py --images_dir=../shared/images --quick
"""

from absl import flags

import figure_common as common
from nst.runs import figures

PRESET = "paper"
OPTIONS = dict(init="content")  # as the authors' notebook: start from the photograph
# (name, options, caption) of each result, left to right.
VARIANTS = (
    ("standard", dict(color_control="none"), "standard transfer"),
    ("luminance", dict(color_control="luminance"), "luminance only"),
    ("histogram", dict(color_control="histogram", histogram_match="image_analogies"),
     "colour histogram matched"),
    ("histogram_cholesky", dict(color_control="histogram", histogram_match="cholesky"),
     "histogram matched (Cholesky)"),
)

STYLE = flags.DEFINE_enum("style", "starry_night", list(common.STYLES),
                          "The artwork.")


def build(folder):
  name = STYLE.value
  content, artwork = figures.load_pair(folder, common.CONTENT, common.STYLES[name],
                                       common.image_size())
  common_options = dict(OPTIONS, num_steps=common.num_steps(), seed=common.SEED.value)
  cells = [figures.Cell(
      cell_name, 1, col, dict(common_options, **options), content, artwork,
      caption=caption, sources={"content": common.CONTENT,
                                "style": common.STYLES[name]}, preset=PRESET)
           for col, (cell_name, options, caption) in enumerate(VARIANTS)]
  layout = dict(
      sources={(0, 0): (content, "photograph"), (0, 1): (artwork, name)},
      row_labels=["sources", "results"],
      col_labels=[chr(ord("A") + i) for i in range(len(VARIANTS))],
      title=f"Colour control: Tubingen in the style of {name}",  # the sheet font is ASCII
      extra={"preset": PRESET, "options": OPTIONS, "style": name})
  return cells, layout


if __name__ == "__main__":
  common.main(lambda: common.run("color_control", build),
              full_num_steps=common.CONTROL_NUM_STEPS)
