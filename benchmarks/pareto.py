"""The structure/style trade-off over alpha (quality_compare.py's results with one
variant per alpha), with pastiche's point marked: a Pillow chart, style distance on
a log axis (left: more of the artwork), structure up.

  python benchmarks/quality_compare.py --pairs=astronaut-starry --sizes=256 \
      --variant=a1e-1:alpha=1e-1 --variant=a1e-2:alpha=1e-2 ... --name=pareto
  python benchmarks/pareto.py --results=out/quality/pareto.json --size=256 \
      --output=out/quality/pareto_256.png
"""

import json
import math

from absl import app
from absl import flags
import numpy as np
from PIL import Image, ImageDraw

import quality_compare

from nst import image as image_lib
from nst.sheet import load_font

RESULTS = flags.DEFINE_string("results", None, "quality_compare's JSON.", required=True)
SIZE = flags.DEFINE_integer("size", 256, "Which size's rows.")
OUTPUT = flags.DEFINE_string("output", None, "The chart (PNG).", required=True)
MARK = flags.DEFINE_string("mark", "", "The variant to mark as the chosen point.")

WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 760, 460, 70, 170, 30, 50
COLOURS = [(31, 119, 180), (44, 160, 44), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]


def main(argv):
  del argv
  with open(RESULTS.value, encoding="utf-8") as f:
    data = json.load(f)
  alphas = {name: options.get("alpha") for name, options in
            (quality_compare.parse_variant(v) for v in data["variants"])}
  rows = [r for r in data["rows"] if r["size"] == SIZE.value]
  pairs = list(dict.fromkeys(r["pair"] for r in rows))
  styles = [math.log10(max(r["style"], 1e-6)) for r in rows]
  x0, x1 = math.floor(min(styles)), math.ceil(max(styles))
  y0, y1 = math.floor(min(r["structure"] for r in rows) * 10 - 0.5) / 10, 1.0
  image = Image.new("RGB", (WIDTH, HEIGHT), (255, 255, 255))
  draw = ImageDraw.Draw(image)
  font = load_font(12)

  def xy(style, structure):
    x = LEFT + (math.log10(max(style, 1e-6)) - x0) / (x1 - x0) * (WIDTH - LEFT - RIGHT)
    y = TOP + (y1 - structure) / (y1 - y0) * (HEIGHT - TOP - BOTTOM)
    return x, y

  draw.rectangle([LEFT, TOP, WIDTH - RIGHT, HEIGHT - BOTTOM], outline=(0, 0, 0))
  for e in range(x0, x1 + 1):
    x, _ = xy(10.0 ** e, y0)
    draw.line([x, HEIGHT - BOTTOM, x, HEIGHT - BOTTOM + 4], fill=(0, 0, 0))
    draw.text((x - 12, HEIGHT - BOTTOM + 6), f"1e{e}", fill=(0, 0, 0), font=font)
  for v in np.arange(y0, y1 + 1e-9, 0.1):
    _, y = xy(1.0, v)
    draw.line([LEFT - 4, y, LEFT, y], fill=(0, 0, 0))
    draw.text((LEFT - 34, y - 7), f"{v:.1f}", fill=(0, 0, 0), font=font)
  _, y = xy(1.0, 0.85)
  draw.line([LEFT, y, WIDTH - RIGHT, y], fill=(200, 200, 200))
  draw.text((LEFT + 4, y - 14), "structure 0.85", fill=(150, 150, 150), font=font)
  draw.text((LEFT, HEIGHT - 22), "style distance (log; lower = more of the artwork)",
            fill=(0, 0, 0), font=font)
  draw.text((4, 6), f"structure vs style over alpha, {SIZE.value} px; "
            "squares (red edge): pastiche 1.6.0; large dot: the default", fill=(0, 0, 0), font=font)
  for i, pair in enumerate(pairs):
    colour = COLOURS[i % len(COLOURS)]
    mine = sorted((r for r in rows if r["pair"] == pair and alphas.get(r["tool"])),
                  key=lambda r: -alphas[r["tool"]])
    points = [xy(r["style"], r["structure"]) for r in mine]
    if len(points) > 1:
      draw.line(points, fill=colour, width=2)
    for r, (x, y) in zip(mine, points):
      size = 5 if r["tool"] == MARK.value else 3
      draw.ellipse([x - size, y - size, x + size, y + size], fill=colour)
      draw.text((x + 4, y + 2), f"{alphas[r['tool']]:g}", fill=colour, font=font)
    for r in rows:
      if r["pair"] == pair and r["tool"] == "pastiche":
        x, y = xy(r["style"], r["structure"])
        draw.rectangle([x - 5, y - 5, x + 5, y + 5], fill=colour, outline=(214, 39, 40),
                       width=2)
    draw.text((WIDTH - RIGHT + 10, TOP + 16 * i), pair, fill=colour, font=font)
  image_lib.save_image(OUTPUT.value, np.asarray(image, np.float32))


if __name__ == "__main__":
  app.run(main)
