"""Figure 4 of Gatys et al. (CVPR 2016): content against style weighting.

Composition VII on the Tübingen photograph. Rows: style layer sets growing from
relu1_1 to relu1_1..relu5_1 (equal weights); columns: alpha/beta. Content relu4_2.

  python scripts/figure4.py --images_dir=../shared/images --quick
"""

from absl import flags

import figure_common as common
from nst.runs import figures

STYLE_LAYERS = flags.DEFINE_list(
    "style_layers", "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1",
    "Rows are the growing prefixes of this list.")
RATIOS = flags.DEFINE_list("ratios", "1e-5,1e-4,1e-3,1e-2", "alpha/beta per column.")


def build(folder):
  style_name = common.STYLES["composition_vii"]
  content, style = figures.load_pair(folder, common.CONTENT, style_name,
                                     common.image_size())
  ratios = common.numbers(RATIOS)
  layers = tuple(STYLE_LAYERS.value)
  cells, row_labels = [], []
  for row in range(len(layers)):
    subset = layers[:row + 1]
    row_labels.append(subset[0] if row == 0 else f"{subset[0]}..{subset[-1]}")
    for col, ratio in enumerate(ratios, start=1):
      settings = dict(alpha=ratio, beta=1.0, style_layers=subset,
                                 num_steps=common.num_steps(), seed=common.SEED.value)
      cells.append(figures.Cell(
          f"{subset[-1]}_ratio_{ratio:g}", row, col, settings, content, style,
          sources={"content": common.CONTENT, "style": style_name}))
  layout = dict(
      sources={(0, 0): (content, "photograph"), (1, 0): (style, "painting")},
      row_labels=row_labels,
      col_labels=["source"] + [f"alpha/beta {r:g}" for r in ratios],
      title="Figure 4: style layer sets (rows) against alpha/beta (columns)",
      extra={"ratios": ratios, "style_layers": list(layers)})
  return cells, layout


if __name__ == "__main__":
  common.main(lambda: common.run("figure4", build))
