"""Figure 1 of Gatys et al. (CVPR 2016): what the image representations keep.

Top row: content reconstructions (alpha=1, beta=0) from white noise, one layer each.
Bottom row: style reconstructions (alpha=0, beta=1) from white noise with growing
layer sets, relu1_1 up to relu1_1..relu5_1, equal weights. Tübingen and The Starry
Night. Lower content layers should give almost perfect copies of the photograph, and
higher ones blurrier, less exact ones; style reconstructions should lose the
photograph's layout while taking on the painting's colours and textures.

  python scripts/figure1.py --images_dir=../shared/images --quick
"""

from absl import flags

import figure_common as common
from nst.runs import figures

# The original reimplementation's content layers, and the CVPR text's.
CONTENT_LAYER_SETS = {
    "relu": ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
    "conv": ("conv1_2", "conv2_2", "conv3_2", "conv4_2", "conv5_2"),
}
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

CONTENT_LAYER_SET = flags.DEFINE_enum(
    "content_layer_set", "relu", list(CONTENT_LAYER_SETS),
    "relu: relu1_1..relu5_1 (the original reimplementation); conv: conv1_2..conv5_2 "
    "(the CVPR text).")


def cells(content, style, content_layers, num_steps, seed, sources=None):
  """The figure's ten runs: row 0 content reconstructions, row 1 style ones."""
  result = []
  for i, layer in enumerate(content_layers):
    settings = dict(alpha=1.0, beta=0.0, content_layers=(layer,),
                               num_steps=num_steps, seed=seed, init="random")
    result.append(figures.Cell(f"content_{layer}", 0, i + 1, settings, content, style,
                               caption=layer, sources=sources or {}))
  for i in range(len(STYLE_LAYERS)):
    layers = STYLE_LAYERS[:i + 1]
    settings = dict(alpha=0.0, beta=1.0, style_layers=layers,
                               num_steps=num_steps, seed=seed, init="random")
    caption = layers[0] if i == 0 else f"{layers[0]}..{layers[-1]}"
    result.append(figures.Cell(f"style_{layers[-1]}", 1, i + 1, settings, content,
                               style, caption=caption, sources=sources or {}))
  return result


def build(folder):
  style_name = common.STYLES["starry_night"]
  content, style = figures.load_pair(folder, common.CONTENT, style_name,
                                     common.image_size())
  sources = {"content": common.CONTENT, "style": style_name}
  layers = CONTENT_LAYER_SETS[CONTENT_LAYER_SET.value]
  layout = dict(
      sources={(0, 0): (content, "photograph"), (1, 0): (style, "painting")},
      row_labels=["content", "style"],
      col_labels=["source", "a", "b", "c", "d", "e"],
      title="Figure 1: content (top) and style (bottom) reconstructions from noise",
      extra={"content_layer_set": CONTENT_LAYER_SET.value, "sources": sources})
  return cells(content, style, layers, common.num_steps(), common.SEED.value,
               sources), layout


if __name__ == "__main__":
  common.main(lambda: common.run("figure1", build))
