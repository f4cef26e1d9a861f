"""Replicating the paper's figures: grids of independent runs ("cells") that can be
resumed, each saved as an image plus a JSON record, and laid out as a contact sheet.

The figure scripts in scripts/ only say which cells a figure has and how they are laid
out; each cell is a run through the run path (runs/plan.py), by default from the
`original` preset, so that the figures replicate the paper with the conventions they
were made with, whatever the command's default.
"""

import dataclasses
import json
import os

from nst import image as image_lib
from nst import interrupts
from nst import sheet as sheet_lib
from nst.engine import normalize
from nst.errors import UserError, flag
from nst.files import write_json
from nst.runs import batch
from nst.runs import executors
from nst.runs import jobs as jobs_lib

IMAGES_DIR_ENV = "NST_IMAGES_DIR"


@dataclasses.dataclass
class Cell:
  """One run of a figure: its place in the grid, its options and its two images."""
  name: str                # file stem of its image and record
  row: int
  col: int
  options: dict            # run options by flag name, over the `original` preset
  content: object          # float RGB 0-255 array
  style: object            # float RGB 0-255 array, same size as content, or a list
                           # of them (blended, or one per region with content_masks)
  caption: str = ""
  sources: dict = dataclasses.field(default_factory=dict)  # names of the input files
  preset: str = "original"  # what `options` override (FIGURE_PRESET unless said)


def images_dir(flag_value):
  """The reference images folder: the flag, else $NST_IMAGES_DIR."""
  folder = flag_value or os.environ.get(IMAGES_DIR_ENV)
  if not folder:
    raise UserError(f"no reference images folder: pass {flag('images_dir')} or set "
                    f"{IMAGES_DIR_ENV} (see the README for where to get the images)",
                    option="images_dir")
  if not os.path.isdir(folder):
    raise UserError(f"{flag('images_dir')}: {folder!r} is not a folder",
                    option="images_dir")
  return folder


def reference_images(folder):
  """The photograph and the artworks of the reference folder (content/ and style/;
  not masks/), as the comma list that --normalize_images takes."""
  return ",".join(p for sub in ("content", "style")
                  for p in normalize.image_paths(os.path.join(folder, sub)))


def load_pair(folder, content_name, style_name, image_size):
  """Photograph at `image_size` (longest side) and artwork rescaled to its size."""
  return image_lib.load_pair(os.path.join(folder, content_name),
                             os.path.join(folder, style_name), image_size,
                             "images_dir", "images_dir")


def load_style(folder, style_name, shape):
  """Another artwork for the same photograph, rescaled to its `shape`."""
  return image_lib.load_resized(os.path.join(folder, style_name), shape,
                                "images_dir")


def run_cells(cells, output_dir, weights_path, overwrite=False, log=print,
              normalize_source=None, executor=None, live=None):
  """Run every cell whose result is missing or stale; return their summaries.

  The cells are a batch's jobs (nst.runs.batch.run_batch): a cell is skipped when its
  image and record exist with the same settings and image size (so an interrupted
  figure resumes), unless `overwrite`. Cells with normalize_vgg use factors computed
  over `normalize_source` (normalize.py). `executor`: nst.executors.LocalExecutor (the
  default: one after another here) or RayExecutor. `live`: a serve.Live to show the
  cells on. Raises UserError naming the cells that failed (the others are kept);
  KeyboardInterrupt or interrupts.Terminated when a signal stopped them (the
  interrupted cell keeps its checkpoint, which the next run continues).
  """
  # A cell runs at its images' own size (image_size=0), or at its --pyramid levels'.
  jobs = [jobs_lib.Job(name=cell.name, content=cell.content,
                    style=(list(cell.style) if isinstance(cell.style, (list, tuple))
                           else [cell.style]),
                    options=dict(cell.options, vgg_weights=weights_path,
                                 normalize_images=normalize_source, plot=False,
                                 **({} if cell.options.get("pyramid") else
                                    {"image_size": 0})),
                    preset=cell.preset, source=f"cell {cell.name}")
          for cell in cells]
  summary = batch.run_batch(jobs, output_dir, executor=executor or
                            executors.LocalExecutor(), overwrite=overwrite, log=log,
                            sheet=False, live=live)
  if summary["interrupted"]:  # as the signal would have: the entry point says so
    raise interrupts.exception(batch.exit_code(summary))
  failed = [f"{e['name']}: {e['error']}" for e in summary["jobs"]
            if e["state"] != "done" and e["state"] != "skipped"]
  if failed:
    raise UserError(f"{len(failed)} cells failed ({'; '.join(failed)}); see "
                    f"{os.path.join(output_dir, jobs_lib.SUMMARY)}")
  summaries = []
  for cell, entry in zip(cells, summary["jobs"]):
    with open(entry["outputs"]["record"], encoding="utf-8") as f:
      summaries.append(cell_summary(cell, json.load(f)))
  return summaries


def cell_summary(cell, record):
  """What the figure's JSON keeps of a cell's run record."""
  result, start = record["result"], record["history"][0]
  init_losses = {k: start[k] for k in result["losses"]}
  return dict(name=cell.name, row=cell.row, col=cell.col, caption=cell.caption,
              sources=cell.sources, image=cell.name + ".png",
              settings=record["settings"], shape=record["shape"],
              iterations=result["iterations"], evaluations=result["evaluations"],
              seconds=result["seconds"], init_losses=init_losses,
              losses=result["losses"],
              normalization=record["weights"]["normalization"])


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
