"""Figure 3 of Gatys et al. (CVPR 2016): the Tübingen photograph in the style of five
well-known artworks. Content relu4_2; style relu1_1..relu5_1 at 0.2 each.

Two presets of alpha/beta: `original`, the TF1 reimplementation's 1e-6 for every
artwork (with the paper-literal loss), and `paper`, the ratios the paper gives per
artwork. Rows are presets, columns artworks; the photograph and the artworks are shown
above and beside the results.

  python scripts/figure3.py --images_dir=../shared/images --quick
"""

from absl import flags

import figure_common as common
from nst.runs import figures

ARTWORKS = ("shipwreck", "starry_night", "scream", "femme_nue_assise",
            "composition_vii")
PRESETS = {
    "original": {name: 1e-6 for name in ARTWORKS},
    "paper": {"shipwreck": 1e-3, "starry_night": 8e-4, "scream": 5e-3,
              "femme_nue_assise": 5e-4, "composition_vii": 5e-4},
}

PRESETS_FLAG = flags.DEFINE_multi_enum(
    "presets", list(PRESETS), list(PRESETS), "Which alpha/beta presets to run (rows).")


def build(folder):
  content = figures.load_pair(folder, common.CONTENT, common.STYLES[ARTWORKS[0]],
                              common.image_size())[0]
  styles = {name: figures.load_style(folder, common.STYLES[name], content.shape)
            for name in ARTWORKS}
  cells = []
  for row, preset in enumerate(PRESETS_FLAG.value, start=1):
    for col, name in enumerate(ARTWORKS, start=1):
      ratio = PRESETS[preset][name]
      settings = dict(alpha=ratio, beta=1.0, num_steps=common.num_steps(),
                                 seed=common.SEED.value)
      cells.append(figures.Cell(
          f"{preset}_{name}", row, col, settings, content, styles[name],
          caption=f"alpha/beta {ratio:g}",
          sources={"content": common.CONTENT, "style": common.STYLES[name]}))
  sources = {(0, 0): (content, "photograph")}
  sources.update({(0, col): (styles[name], name)
                  for col, name in enumerate(ARTWORKS, start=1)})
  layout = dict(
      sources=sources,
      row_labels=["sources"] + list(PRESETS_FLAG.value),
      col_labels=["A"] + [chr(ord("B") + i) for i in range(len(ARTWORKS))],
      title="Figure 3: the photograph in the style of five artworks",
      extra={"presets": {p: PRESETS[p] for p in PRESETS_FLAG.value}})
  return cells, layout


if __name__ == "__main__":
  common.main(lambda: common.run("figure3", build))
