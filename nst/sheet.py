"""Labelled contact sheets: a grid of images with row and column labels drawn on it."""

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from nst import image as image_lib

_PAD = 6
_BACKGROUND = (255, 255, 255)
_INK = (0, 0, 0)


def load_font(size):
  try:
    return ImageFont.load_default(size=size)  # scalable with FreeType (Pillow >= 10.1)
  except TypeError:
    return ImageFont.load_default()


def contact_sheet(grid, row_labels=(), col_labels=(), captions=None, title=None,
                  font_size=13, min_cell_width=160):
  """Lay out `grid` (rows of float RGB 0-255 images, or None for an empty cell).

  Every cell is scaled to the size of the largest image in the grid, enlarged so that
  cells are at least `min_cell_width` px wide and every caption fits. `row_labels` are
  drawn left of the rows, `col_labels` above the columns, `captions` (a grid of
  strings or None, like `grid`) under each cell, `title` on top. Returns uint8 RGB.
  """
  images = [im for row in grid for im in row if im is not None]
  cell_h = max(im.shape[0] for im in images)
  cell_w = max(im.shape[1] for im in images)
  font = load_font(font_size)
  widest_caption = max((_text_width(font, t) for row in (captions or ()) for t in row
                        if t), default=0)
  scale = max(1.0, min_cell_width / cell_w, (widest_caption + _PAD) / cell_w)
  cell_h, cell_w = round(cell_h * scale), round(cell_w * scale)
  line = font_size + 4
  n_rows, n_cols = len(grid), max(len(row) for row in grid)
  left = (max((_text_width(font, t) for t in row_labels), default=0) + 2 * _PAD
          if row_labels else _PAD)
  top = (line if title else 0) + (line if col_labels else 0) + _PAD
  caption_h = line if captions else 0
  width = max(left + n_cols * (cell_w + _PAD), _text_width(font, title or "") + 2 * _PAD)
  height = top + n_rows * (cell_h + caption_h + _PAD)

  sheet = Image.new("RGB", (width, height), _BACKGROUND)
  draw = ImageDraw.Draw(sheet)
  if title:
    draw.text((_PAD, 2), title, fill=_INK, font=font)
  for c, label in enumerate(col_labels):
    x = left + c * (cell_w + _PAD)
    draw.text((x, top - line), str(label), fill=_INK, font=font)
  for r, row in enumerate(grid):
    y = top + r * (cell_h + caption_h + _PAD)
    if r < len(row_labels):
      draw.text((_PAD, y + cell_h // 2 - line // 2), str(row_labels[r]), fill=_INK,
                font=font)
    for c, im in enumerate(row):
      x = left + c * (cell_w + _PAD)
      if im is not None:
        fitted = image_lib.to_uint8(image_lib.resize(im, (cell_h, cell_w)))
        sheet.paste(Image.fromarray(fitted), (x, y))
      if captions and captions[r][c]:
        draw.text((x, y + cell_h + 1), str(captions[r][c]), fill=_INK, font=font)
  return np.asarray(sheet)


def _text_width(font, text):
  left, _, right, _ = font.getbbox(str(text))
  return right - left
