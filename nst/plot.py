"""A loss-curve plot drawn with Pillow (no plotting library needed for one chart)."""

import math

import numpy as np
from PIL import Image, ImageDraw

from nst.sheet import load_font

WIDTH, HEIGHT = 720, 420
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 70, 20, 30, 45
SERIES = (("total", (0, 0, 0)), ("alpha * content", (31, 119, 180)),
          ("beta * style", (214, 39, 40)), ("tv_weight * tv", (44, 160, 44)))


def loss_curves(history, alpha, beta, title="loss", tv_weight=0.0):
  """RGB uint8 chart of total, alpha*content, beta*style and (when tv_weight > 0)
  tv_weight*tv against iteration (log y).

  `history` is a list of dicts with iteration, total, content, style (and tv).
  """
  iterations = [h["iteration"] for h in history]
  series = {
      "total": [h["total"] for h in history],
      "alpha * content": [alpha * h["content"] for h in history],
      "beta * style": [beta * h["style"] for h in history],
  }
  if tv_weight > 0:
    series["tv_weight * tv"] = [tv_weight * h.get("tv", 0.0) for h in history]
  positive = [v for values in series.values() for v in values
              if v > 0 and math.isfinite(v)]
  image = Image.new("RGB", (WIDTH, HEIGHT), (255, 255, 255))
  draw = ImageDraw.Draw(image)
  font = load_font(12)
  draw.text((MARGIN_LEFT, 8), title, fill=(0, 0, 0), font=font)
  x0, x1 = MARGIN_LEFT, WIDTH - MARGIN_RIGHT
  y0, y1 = HEIGHT - MARGIN_BOTTOM, MARGIN_TOP
  draw.rectangle((x0, y1, x1, y0), outline=(0, 0, 0))
  if not positive:
    return np.asarray(image)
  low = math.floor(math.log10(min(positive)))
  high = max(math.ceil(math.log10(max(positive))), low + 1)
  last = max(max(iterations), 1)

  def xy(iteration, value):
    fx = iteration / last
    fy = (math.log10(value) - low) / (high - low)
    return x0 + fx * (x1 - x0), y0 - fy * (y0 - y1)

  step = max(1, (high - low) // 8)
  for decade in range(low, high + 1, step):
    _, y = xy(0, 10.0 ** decade)
    draw.line((x0 - 4, y, x0, y), fill=(0, 0, 0))
    draw.text((6, y - 7), f"1e{decade}", fill=(0, 0, 0), font=font)
  for i in range(5):
    iteration = round(last * i / 4)
    x, _ = xy(iteration, 10.0 ** low)
    draw.line((x, y0, x, y0 + 4), fill=(0, 0, 0))
    draw.text((x - 10, y0 + 8), str(iteration), fill=(0, 0, 0), font=font)
  draw.text(((x0 + x1) // 2 - 25, HEIGHT - 18), "iteration", fill=(0, 0, 0), font=font)
  for k, (name, colour) in enumerate(s for s in SERIES if s[0] in series):
    points = [xy(i, v) for i, v in zip(iterations, series[name])
              if v > 0 and math.isfinite(v)]
    if len(points) > 1:
      draw.line(points, fill=colour, width=2)
    elif points:
      draw.ellipse((points[0][0] - 2, points[0][1] - 2, points[0][0] + 2,
                    points[0][1] + 2), fill=colour)
    draw.text((x1 - 150, y1 + 8 + 16 * k), name, fill=colour, font=font)
  return np.asarray(image)
