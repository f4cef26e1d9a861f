"""Replicating the paper's figures: grids of independent runs ("cells") that can be
resumed, each saved as an image plus a JSON record, and laid out as a contact sheet.

The figure scripts in scripts/ only say which cells a figure has and how they are laid
out; running, resuming and recording live here, on top of optimize.stylize.
"""

import dataclasses
import json
import os

from nst import config
from nst import records as records_lib
from nst import image as image_lib
from nst import sheet as sheet_lib
from nst.errors import UserError
from nst.files import write_json

IMAGES_DIR_ENV = "NST_IMAGES_DIR"


@dataclasses.dataclass
class Cell:
  """One run of a figure: its place in the grid, its settings and its two images."""
  name: str                # file stem of its image and record
  row: int
  col: int
  settings: config.Settings
  content: object          # float RGB 0-255 array
  style: object            # float RGB 0-255 array, same size as content
  caption: str = ""
  sources: dict = dataclasses.field(default_factory=dict)  # names of the input files


def images_dir(flag_value):
  """The reference images folder: the flag, else $NST_IMAGES_DIR."""
  folder = flag_value or os.environ.get(IMAGES_DIR_ENV)
  if not folder:
    raise UserError(f"no reference images folder: pass --images_dir or set "
                    f"{IMAGES_DIR_ENV} (see the README for where to get the images)")
  if not os.path.isdir(folder):
    raise UserError(f"--images_dir: {folder!r} is not a folder")
  return folder


def load_pair(folder, content_name, style_name, image_size):
  """Photograph at `image_size` (longest side) and artwork rescaled to its size."""
  return image_lib.load_pair(os.path.join(folder, content_name),
                             os.path.join(folder, style_name), image_size,
                             "--images_dir", "--images_dir")


def load_style(folder, style_name, shape):
  """Another artwork for the same photograph, rescaled to its `shape`."""
  return image_lib.load_resized(os.path.join(folder, style_name), shape,
                                "--images_dir")


def run_cells(cells, output_dir, weights_path, overwrite=False, log=print,
              normalize_source=None):
  """Run every cell whose result is missing or stale; return all their records.

  A cell is skipped when its image and record exist with the same settings and image
  size (so an interrupted figure resumes), unless `overwrite`. Cells with
  settings.normalize_vgg use factors computed over `normalize_source` (normalize.py).
  """
  from nst import normalize  # pylint: disable=g-import-not-at-top
  from nst import optimize  # pylint: disable=g-import-not-at-top
  from nst import vgg  # pylint: disable=g-import-not-at-top
  os.makedirs(output_dir, exist_ok=True)
  conv_weights = None
  networks = {}  # (normalize_vgg, pooling) -> (weights, normalisation metadata)
  records = []
  for i, cell in enumerate(cells):
    png = os.path.join(output_dir, cell.name + ".png")
    record_path = os.path.join(output_dir, cell.name + ".json")
    wanted = {"settings": records_lib.settings_dict(cell.settings),
              "shape": list(cell.content.shape[:2])}
    if not overwrite and os.path.isfile(png) and os.path.isfile(record_path):
      with open(record_path, encoding="utf-8") as f:
        record = json.load(f)
      if all(record.get(k) == v for k, v in wanted.items()):
        log(f"[{i + 1}/{len(cells)}] {cell.name}: done before, kept")
        records.append(record)
        continue
    cell.settings.check_image_shape(cell.content.shape)
    if conv_weights is None:
      conv_weights = vgg.load_conv_weights(weights_path)
    key = (cell.settings.normalize_vgg, cell.settings.pooling)
    if key not in networks:
      networks[key] = normalize.network_weights(weights_path, cell.settings,
                                                normalize_source, conv_weights, log)
    vgg_weights, normalization = networks[key]
    problem = optimize.Problem(cell.content, cell.style, cell.settings,
                               vgg_weights=vgg_weights)
    x0 = optimize.initial_image(cell.settings.init, cell.content, cell.style,
                                cell.settings.seed)
    iterates = list(optimize.stylize(problem, x0,
                                     report_every=cell.settings.num_steps))
    first, last = iterates[0], iterates[-1]
    image_lib.save_image(png, last.image)
    record = dict(wanted, name=cell.name, row=cell.row, col=cell.col,
                  caption=cell.caption, sources=cell.sources, image=cell.name + ".png",
                  iterations=last.iteration, evaluations=last.evaluations,
                  seconds=round(last.elapsed, 3), init_losses=first.losses,
                  losses=last.losses, normalization=normalization)
    write_json(record_path, record)
    log(f"[{i + 1}/{len(cells)}] {cell.name}: {last.iteration} iterations, "
        f"{last.evaluations} evaluations, {last.elapsed:.1f} s, "
        f"loss {first.losses['total']:.3e} -> {last.losses['total']:.3e}")
    records.append(record)
  return records


def write_figure(name, records, output_dir, sources, row_labels, col_labels, title,
                 extra=None, wall_seconds=None):
  """Contact sheet `<name>.png` and `<name>.json` (settings and losses of every cell).

  `sources` maps (row, col) to input images shown beside the results.
  """
  n_rows = max([r["row"] for r in records] + [r for r, _ in sources]) + 1
  n_cols = max([r["col"] for r in records] + [c for _, c in sources]) + 1
  grid = [[None] * n_cols for _ in range(n_rows)]
  captions = [[""] * n_cols for _ in range(n_rows)]
  for (r, c), (im, caption) in sources.items():
    grid[r][c], captions[r][c] = im, caption
  for record in records:
    grid[record["row"]][record["col"]] = image_lib.load_image(
        os.path.join(output_dir, record["image"]))
    captions[record["row"]][record["col"]] = record["caption"]
  sheet = sheet_lib.contact_sheet(grid, row_labels, col_labels, captions, title)
  sheet_path = image_lib.save_image(os.path.join(output_dir, name + ".png"), sheet)
  summary = dict(extra or {}, figure=name, title=title, sheet=name + ".png",
                 cells=records,
                 compute_seconds=round(sum(r["seconds"] for r in records), 3))
  if wall_seconds is not None:
    summary["wall_seconds"] = round(wall_seconds, 3)
  json_path = write_json(os.path.join(output_dir, name + ".json"), summary)
  return sheet_path, json_path
