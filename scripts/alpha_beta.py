"""What an alpha/beta ratio means: loss convention x network scale, measured.

Two outputs in --output_dir (default out/alpha_beta):

1. alpha_beta_table.md / .json, at each --table_sizes: per-layer activation scales of
   the original and the normalised VGG19 on the Tubingen photograph and Composition
   VII, and, for the four combinations (paper | authors loss) x (original | normalised
   network), the content and style losses of the same starting image (uniform noise,
   seed 0) and the factor that converts a ratio from one combination to another:
   r_Y = r_X * (S_Y / S_X) / (C_Y / C_X), so that alpha*C : beta*S is the same at the
   start. Between loss conventions this is exact (constant factors per layer); between
   networks it is the factor at the starting image (normalising rescales channels
   unequally, so no single factor holds everywhere).
2. alpha_beta.png / .json: the Figure 4 grid (style layer sets x alpha/beta) under
   (a) the paper's loss with the original network and (b) the authors' loss with the
   normalised network, side by side; --variants=a,b,c adds (c), (b) with the per-layer
   style weights reported for the authors' code (1e3/N_l^2).

  python scripts/alpha_beta.py --images_dir=../shared/images --image_size=256 \\
      --num_steps=300
"""

import itertools
import os

from absl import flags

import figure_common as common
from nst import config
from nst.runs import figures
from nst.engine import losses as losses_lib
from nst.engine import normalize
from nst.engine import vgg
from nst.engine import weights as weights_lib
from nst.errors import UserError
from nst.files import write_json

TABLE_SIZES = flags.DEFINE_list(
    "table_sizes", "512,256", "Image sizes (longest side, px) of the conversion table.")
RATIOS = flags.DEFINE_list("ratios", "1e-5,1e-4,1e-3,1e-2", "alpha/beta per column.")
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
QUICK_TABLE_SIZE = 64

# (loss convention, normalised network): the combinations the table compares.
COMBINATIONS = tuple(itertools.product(config.LOSS_CONVENTIONS, (False, True)))
# The grid's variants: (a) what we default to, (b) what the paper's ratios may assume,
# (c) as (b) with the per-layer style weights reported for the authors' code,
# w_l = 1e3 / N_l^2 instead of 1/5 (optional: --variants=a,b,c).
VARIANTS = {"a": ("paper", False, False), "b": ("authors", True, False),
            "c": ("authors", True, True)}
GRID_VARIANTS = flags.DEFINE_list("variants", "a,b",
                                  "Grid variants side by side (a, b, c; see above).")
PAPER_RATIOS = (1e-3, 1e-4)   # the paper's Figure 3 ratios
ORIGINAL_RATIO = config.OPTIONS["alpha"] / config.OPTIONS["beta"]  # the TF1 version's


def label(convention, normalized, authors_weights=False):
  return (f"{convention} loss, {'normalised' if normalized else 'original'} VGG19"
          + (", style weights 1e3/N_l^2" if authors_weights else ""))


def key(convention, normalized, authors_weights=False):
  return (f"{convention}+{'normalised' if normalized else 'original'}"
          + ("+1e3_over_n2" if authors_weights else ""))


def measure(folder, size, conv_weights, normalized_weights):
  """Per-layer activation scales and the starting losses of every combination."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from nst.engine import optimize  # pylint: disable=g-import-not-at-top
  content, style = figures.load_pair(folder, common.CONTENT,
                                     common.STYLES["composition_vii"], size)
  layers = ["relu4_2", *STYLE_LAYERS]
  networks = {False: conv_weights, True: normalized_weights}
  scales = {}
  for normalized, w in networks.items():
    model = vgg.build_feature_model(None, layers, "avg", weights=w)
    photo = model(vgg.preprocess(tf.constant(content[None], tf.float32)))
    painting = model(vgg.preprocess(tf.constant(style[None], tf.float32)))
    scales[normalized] = {
        l: {"mean_photo": float(tf.reduce_mean(photo[l])),
            "mean_painting": float(tf.reduce_mean(painting[l])),
            "energy_photo": float(tf.reduce_sum(tf.square(photo[l]))),
            "gram_energy_painting": float(tf.reduce_sum(tf.square(
                losses_lib.gram(painting[l]))))}
        for l in layers}
  losses = {}
  for convention, normalized in COMBINATIONS:
    settings = config.Settings(alpha=1.0, beta=1.0, loss_convention=convention,
                               normalize_vgg=normalized)
    problem = optimize.Problem(content, style, settings,
                               vgg_weights=networks[normalized])
    x0 = optimize.initial_image("random", content, style, 0)
    terms = problem.loss_terms(tf.constant(x0.reshape(1, -1)))
    losses[key(convention, normalized)] = {
        "content": float(terms["content"][0]), "style": float(terms["style"][0])}
  factors = {x: {y: (losses[y]["style"] / losses[x]["style"])
                    / (losses[y]["content"] / losses[x]["content"])
                 for y in losses} for x in losses}
  per_layer = {
      l: {"mean_photo": scales[False][l]["mean_photo"],
          "mean_photo_normalised": scales[True][l]["mean_photo"],
          "mean_painting": scales[False][l]["mean_painting"],
          "mean_painting_normalised": scales[True][l]["mean_painting"],
          "content_energy_ratio": (scales[False][l]["energy_photo"]
                                   / scales[True][l]["energy_photo"]),
          "gram_energy_ratio": (scales[False][l]["gram_energy_painting"]
                                / scales[True][l]["gram_energy_painting"])}
      for l in layers}
  return {"size": [int(s) for s in content.shape[:2]], "per_layer": per_layer,
          "start_losses": losses, "factors": factors}


def markdown(tables, factor_summary):
  out = ["# What alpha/beta means: loss convention x network scale", "",
         "Measured by scripts/alpha_beta.py on the Tubingen photograph and Composition "
         "VII (content relu4_2, style relu1_1..relu5_1 at 1/5 each, average pooling). "
         "The normalised network's factors were computed over "
         f"{factor_summary['images']} images.", ""]
  for t in tables:
    h, w = t["size"]
    out += [f"## {w}x{h} px", "",
            "Per layer, original network (normalised network in brackets): mean "
            "activation on the photograph and the painting; how much larger the "
            "content loss (photograph's activation energy) and the style loss "
            "(painting's Gram energy) are in the original network.", "",
            "| layer | mean, photo | mean, painting | content x | style x |",
            "|---|---|---|---|---|"]
    for l, v in t["per_layer"].items():
      out.append(f"| {l} | {v['mean_photo']:.3g} ({v['mean_photo_normalised']:.3g}) | "
                 f"{v['mean_painting']:.3g} ({v['mean_painting_normalised']:.3g}) | "
                 f"{v['content_energy_ratio']:.3g} | {v['gram_energy_ratio']:.3g} |")
    names = list(t["start_losses"])
    out += ["", "Content and style loss of the starting image (noise, seed 0), alpha = "
            "beta = 1, and what a ratio means in each combination:", "",
            "| combination | content | style | the paper's 1e-3 | the paper's 1e-4 "
            "| the original's 1e-6 |", "|---|---|---|---|---|---|"]
    paper, ours = key("authors", True), key("paper", False)
    for n in names:
      out.append(
          f"| {n} | {t['start_losses'][n]['content']:.3g} | "
          f"{t['start_losses'][n]['style']:.3g} | "
          + " | ".join(f"{r * t['factors'][paper][n]:.3g}" for r in PAPER_RATIOS)
          + f" | {ORIGINAL_RATIO * t['factors'][ours][n]:.3g} |")
    out += ["", "Conversion factors r_column = r_row x factor:", "",
            "| from \\ to | " + " | ".join(names) + " |",
            "|---" * (len(names) + 1) + "|"]
    for x in names:
      out.append(f"| {x} | " + " | ".join(f"{t['factors'][x][y]:.3g}" for y in names)
                 + " |")
    out.append("")
  return "\n".join(out)


def table_sizes():
  if common.QUICK.value:
    return [QUICK_TABLE_SIZE]
  return common.numbers(TABLE_SIZES, int)


def write_table(folder, output_dir):
  weights_path = weights_lib.resolve(common.VGG_WEIGHTS.value)
  conv = vgg.load_conv_weights(weights_path)
  factors, meta = normalize.load_or_compute(weights_path, "avg",
                                            figures.reference_images(folder), conv)
  normalized = normalize.normalize_weights(conv, factors)
  tables = [measure(folder, s, conv, normalized) for s in table_sizes()]
  summary = {"images": len(meta["images"])}
  os.makedirs(output_dir, exist_ok=True)
  md = os.path.join(output_dir, "alpha_beta_table.md")
  with open(md, "w", encoding="utf-8") as f:
    f.write(markdown(tables, summary))
  write_json(os.path.join(output_dir, "alpha_beta_table.json"), {
      "tables": tables, "normalization": meta,
      "vgg_factors": {l: [float(v) for v in factors[l]] for l in factors}})
  print(f"alpha_beta: wrote {os.path.abspath(md)}")


def build(folder):
  write_table(folder, common.output_dir("alpha_beta"))
  content, style = figures.load_pair(folder, common.CONTENT,
                                     common.STYLES["composition_vii"], common.image_size())
  ratios = common.numbers(RATIOS)
  names = GRID_VARIANTS.value
  if not names or any(n not in VARIANTS for n in names):
    raise UserError(f"--variants: {','.join(names)!r}; choose from "
                    f"{','.join(VARIANTS)}")
  cells, row_labels, col_labels = [], [], ["source"]
  for name in names:
    col_labels += [f"({name}) {r:g}" for r in ratios]
  for row in range(len(STYLE_LAYERS)):
    subset = STYLE_LAYERS[:row + 1]
    row_labels.append(subset[0] if row == 0 else f"{subset[0]}..{subset[-1]}")
    for v, name in enumerate(names):
      convention, normalized, authors_weights = VARIANTS[name]
      weights = "authors" if authors_weights else None  # 1e3/N_l^2
      for c, ratio in enumerate(ratios):
        options = dict(
            alpha=ratio, beta=1.0, style_layers=subset, style_layer_weights=weights,
            loss_convention=convention, normalize_vgg=normalized,
            num_steps=common.num_steps(), seed=common.SEED.value)
        cells.append(figures.Cell(
            f"{key(*VARIANTS[name])}_{subset[-1]}_ratio_{ratio:g}", row,
            1 + v * len(ratios) + c, options, content, style,
            sources={"content": common.CONTENT,
                     "style": common.STYLES["composition_vii"]}))
  layout = dict(
      sources={(0, 0): (content, "photograph"), (1, 0): (style, "painting")},
      row_labels=row_labels, col_labels=col_labels,
      title="alpha/beta under " + "; ".join(f"({n}) {label(*VARIANTS[n])}"
                                            for n in names),
      extra={"ratios": ratios, "style_layers": list(STYLE_LAYERS),
             "variants": {n: label(*VARIANTS[n]) for n in names}})
  return cells, layout


if __name__ == "__main__":
  common.main(lambda: common.run("alpha_beta", build))
