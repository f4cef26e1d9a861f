"""`nst-vgg-factors`: compute (or read from the cache) and print the per-layer scale
factors of the normalised VGG19 that --normalize_vgg uses."""

import os
import sys

from absl import app
from absl import flags

from nst.engine import normalize
from nst.engine import vgg
from nst.engine import weights as weights_lib
from nst.errors import UserError

_IMAGES = flags.DEFINE_string(
    "normalize_images", None,
    "Folder (or comma list) of natural images. Default: scikit-image's "
    "photographs (the same as nst's).")
_POOLING = flags.DEFINE_enum("pooling", "avg", list(vgg.POOLING_CHOICES),
                             "Pooling the means are measured with.")
_VGG_WEIGHTS = flags.DEFINE_string("vgg_weights", None, "Path of the VGG19 weights.")


def table(factors):
  lines = ["layer     channels  geo-mean       min    median       max",
           "--------  --------  --------  --------  --------  --------"]
  for layer, n, geo, lo, med, hi in normalize.summary(factors):
    lines.append(f"{layer:<8}  {n:>8}  {geo:8.3g}  {lo:8.3g}  {med:8.3g}  {hi:8.3g}")
  return "\n".join(lines)


def main(argv):
  del argv
  try:
    source = normalize.default_source(_IMAGES.value)
    path = weights_lib.resolve(_VGG_WEIGHTS.value)
    factors, meta = normalize.load_or_compute(
        path, _POOLING.value, source, log=lambda m: print(m, file=sys.stderr))
  except UserError as e:
    print(f"nst-vgg-factors: error: {e}", file=sys.stderr)
    sys.exit(UserError.exit_code)
  print(f"VGG19 scale factors s_l (mean activation per filter, {meta['pooling']} "
        f"pooling) over {len(meta['images'])} images at {meta['image_size']} px; "
        f"cached in {meta['cache']}")
  print(table(factors))
  floored = {l: n for l, n in meta.get("floored_filters", {}).items() if n}
  if floored:
    print(f"filters whose mean is under {meta['floor']:g} x their layer's median on "
          "these images (scaled by that instead): "
          + ", ".join(f"{l} {n}" for l, n in floored.items()))


def run_main():
  app.run(main)


if __name__ == "__main__":
  run_main()
