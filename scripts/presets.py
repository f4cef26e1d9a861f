"""What each preset gives on photographs and artworks it was not tuned on: the
measurement behind the default preset (README, "Presets").

For every preset (--presets), content/artwork pair (PAIRS) and size (--sizes, each with
its own iteration count in --steps), one run; per cell the record keeps the coarse-
structure score against the photograph (image.structure_score: blurred-luminance
correlation, sigma 4 px at 256 px) and the style loss reduction from the start
(style loss of the starting image / of the result, in the run's own loss). Writes
presets_<size>.png (rows: presets; columns: pairs, with the sources above),
presets.json and presets_table.md.

  python scripts/presets.py --images_dir=../shared/images
"""

import json
import os
import sys

from absl import flags

import figure_common as common
from nst import config
from nst.runs import figures
from nst import image as image_lib
from nst.errors import UserError
from nst.files import write_json

# (name, photograph, artwork): a portrait, a town and an object, none of them the
# demo pair; the photographs other than Tubingen are scikit-image's.
PAIRS = (("tubingen_starry_night", common.CONTENT, common.STYLES["starry_night"]),
         ("astronaut_scream", image_lib.sample_path("astronaut.png"),
          common.STYLES["scream"]),
         ("coffee_composition_vii", image_lib.sample_path("coffee.png"),
          common.STYLES["composition_vii"]))

PRESETS = flags.DEFINE_list("presets", ",".join(config.PRESETS), "Presets (rows).")
SIZES = flags.DEFINE_list("sizes", "128,256,512", "Longest sides, px.")
STEPS = flags.DEFINE_list(
    "steps", "200,80,40",
    "L-BFGS iterations at each of --sizes (the presets' own num_steps are 500-1000: "
    "too long at 512 px on 2 cores for a table of 27 runs).")


def build_size(folder, size, num_steps):
  cells, sources = [], {}
  for col, (name, content_name, style_name) in enumerate(PAIRS, start=1):
    content, style = figures.load_pair(folder, content_name, style_name, size)
    sources[(0, col)] = (content, name)
    for row, preset in enumerate(PRESETS.value, start=1):
      cells.append(figures.Cell(
          f"{size}_{preset}_{name}", row, col, dict(num_steps=num_steps), content,
          style, sources={"content": content_name, "style": style_name},
          preset=preset))
  return cells, sources


def main():
  try:
    folder = figures.images_dir(common.IMAGES_DIR.value)
    sizes, steps = common.numbers(SIZES, int), common.numbers(STEPS, int)
    if len(sizes) != len(steps) or min(sizes) < 16 or min(steps) < 1:
      raise UserError("--sizes and --steps need one iteration count (>= 1) per size "
                      "(>= 16 px)")
    executor, live = common.make_executor(), common.start_live("presets")
  except UserError as e:
    print(f"presets: error: {e}", file=sys.stderr)
    sys.exit(UserError.exit_code)
  if common.QUICK.value:
    sizes, steps = [common.QUICK_IMAGE_SIZE], [3]
  out = common.output_dir("presets")
  rows, summary = [], {"pairs": [list(p) for p in PAIRS], "cells": []}
  for size, num_steps in zip(sizes, steps):
    cells, sources = build_size(folder, size, num_steps)
    records = figures.run_cells(cells, out, common.VGG_WEIGHTS.value,
                                common.OVERWRITE.value, executor=executor, live=live)
    for cell, record in zip(cells, records):
      result = image_lib.load_image(os.path.join(out, record["image"]))
      record["structure_score"] = image_lib.structure_score(result, cell.content)
      record["style_reduction"] = (record["init_losses"]["style"]
                                   / record["losses"]["style"])
      record.update(preset=cell.preset, size=size)
      rows.append(record)
    figures.write_figure(
        f"presets_{size}", records, out, sources=sources,
        row_labels=["sources"] + PRESETS.value,
        col_labels=[""] + [p[0] for p in PAIRS],
        title=f"presets at {size} px, {num_steps} iterations")
  # Cells of earlier invocations (other sizes or presets) stay in the table.
  path = os.path.join(out, "presets.json")
  if os.path.isfile(path) and not common.OVERWRITE.value:
    with open(path, encoding="utf-8") as f:
      names = {r["name"] for r in rows}
      rows += [r for r in json.load(f)["cells"] if r["name"] not in names]
  executor.close()
  summary["cells"] = rows
  write_json(path, summary)
  lines = ["| preset | pair | size | iterations | structure score | style loss / start |",
           "| --- | --- | ---: | ---: | ---: | ---: |"]
  for r in sorted(rows, key=lambda r: (list(config.PRESETS).index(r["preset"]),
                                       r["name"].split("_", 2)[2], r["size"])):
    lines.append(f"| {r['preset']} | {r['name'].split('_', 2)[2]} | {r['size']} | "
                 f"{r['iterations']} | {r['structure_score']:.2f} | "
                 f"1/{r['style_reduction']:.0f} |")
  with open(os.path.join(out, "presets_table.md"), "w", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")
  print("\n".join(lines))
  print(f"presets: wrote {os.path.abspath(out)}")
  if live is not None:
    live.linger(flags.FLAGS.serve_linger)


if __name__ == "__main__":
  common.main(main)
