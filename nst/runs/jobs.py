"""A batch's jobs: read from a manifest (JSON Lines or CSV) or made as the product of
photographs, artworks and option sweeps; each job's inputs, options and output name,
checked. Running them is batch.py's."""

import csv
import dataclasses
import itertools
import json
import os
import re
import unicodedata

from nst import config
from nst import image as image_lib
from nst.errors import UserError, flag

SUMMARY = "summary.json"
SHEET = "sheet.png"
RESERVED_NAMES = ("summary", "sheet")  # their .json / .png are the batch's own files
# Set for the whole batch by nst-batch, never per job: resume is automatic (a
# checkpoint beside a job's output is continued) and --overwrite reruns every job.
BATCH_ONLY = ("resume", "overwrite")
JOB_KEYS = ("content", "style", "output", "preset")

kind = config.option_kind  # int | float | bool | str | path | list | floats | ...
_items = config._items  # pylint: disable=protected-access


def parse_value(name, value, where):
  """`value` (text, or a JSON value) of option `name` as the run API takes it
  (config.parse_option, as nst reads its flag); a UserError of option `name`
  naming `where` (e.g. 'jobs.csv:3') if it is not one."""
  try:
    return config.parse_option(name, value)
  except (TypeError, ValueError, OverflowError) as e:
    raise UserError(f"{where}: {name}={value!r} is not a valid value ({e}); give "
                    f"{config.KIND_HELP[kind(name)]}", option=name) from None


@dataclasses.dataclass
class Job:
  """One run of a batch: its output name (file stem) and its inputs."""
  name: str
  content: object          # a path (absolute) or an array
  style: list              # paths or arrays; several are blended
  options: dict = dataclasses.field(default_factory=dict)  # typed, by flag name
  preset: str = None       # None: the batch's --preset, else config.DEFAULT_PRESET
  extension: str = ".png"
  source: str = ""         # where it came from, for messages: "jobs.csv:3"

  def output(self, output_dir):
    return os.path.join(output_dir, self.name + self.extension)


# --- Jobs from a manifest -------------------------------------------------------


def read_manifest(path):
  """The jobs of a JSON Lines (.jsonl, .json, .ndjson) or CSV (.csv) manifest.

  Each line: content (a path), style (a path, a list or a comma list: blended),
  optionally output (a file name in --output_dir; default from the inputs' names),
  preset, and any run option by its flag name. Relative image paths are relative to
  the manifest's folder. Raises UserError naming the line for anything malformed
  (of option "manifest", nst-batch's flag, unless a run option's value is bad).
  """
  if not os.path.isfile(path):
    raise UserError(f"{flag('manifest')}: no such file {path!r}; give a .jsonl or .csv "
                    "file of jobs", option="manifest")
  extension = os.path.splitext(path)[1].lower()
  try:
    # utf-8-sig: spreadsheets save CSV with a byte-order mark, read as no character.
    with open(path, encoding="utf-8-sig", newline="") as f:
      if extension in (".jsonl", ".json", ".ndjson"):
        rows = list(_json_lines(f, path))
      elif extension == ".csv":
        rows = list(_csv_rows(f, path))
      else:
        raise UserError(f"{flag('manifest')}: {path!r} must end in .jsonl (JSON "
                        "Lines) or .csv", option="manifest")
  except (OSError, UnicodeDecodeError) as e:
    raise UserError(f"{flag('manifest')}: cannot read {path!r} ({e})",
                    option="manifest") from None
  if not rows:
    raise UserError(f"{flag('manifest')}: {path!r} has no jobs; give one job per line",
                    option="manifest")
  base = os.path.dirname(os.path.abspath(path))
  jobs = [job_from_row(row, where, base) for where, row in rows]
  check_names(jobs)
  return jobs


def _json_lines(f, path):
  for number, line in enumerate(f, 1):
    if not line.strip() or line.lstrip().startswith("#"):
      continue
    where = f"{path}:{number}"
    try:
      row = json.loads(line)
    except ValueError as e:
      raise UserError(f"{where}: not valid JSON ({e}); give one object per line, "
                      'e.g. {"content": "photo.jpg", "style": "art.jpg"}',
                      option="manifest") from None
    if not isinstance(row, dict):
      raise UserError(f"{where}: a JSON object is needed, got "
                      f"{type(row).__name__}; e.g. "
                      '{"content": "photo.jpg", "style": "art.jpg"}', option="manifest")
    yield where, row


def _csv_rows(f, path):
  reader = csv.DictReader(f)
  if not reader.fieldnames:
    return
  for row in reader:
    where = f"{path}:{reader.line_num}"
    if None in row:
      raise UserError(f"{where}: more cells than the header has columns; quote a "
                      'comma list ("a.jpg,b.jpg")', option="manifest")
    # An empty cell is a value not given: the preset's or the batch flags' stands.
    row = {k.strip(): v.strip() for k, v in row.items()
           if k and v is not None and v.strip()}
    if row:
      yield where, row


def job_from_row(row, where, base="."):
  """A Job from one manifest line (a dict); UserError naming `where` if it is bad."""
  unknown = sorted(set(row) - set(JOB_KEYS) - set(config.OPTIONS))
  if unknown:
    raise UserError(f"{where}: unknown key {', '.join(map(repr, unknown))}; valid "
                    f"keys are {', '.join(JOB_KEYS)} and the run options "
                    f"({', '.join(n for n in config.OPTIONS if n not in BATCH_ONLY)})",
                    option="manifest")
  for name in BATCH_ONLY:
    if name in row:
      raise UserError(f"{where}: {name!r} is set for the whole batch (resume is "
                      f"automatic; {flag('overwrite')} reruns every job); remove it",
                      option="manifest")
  for key in ("content", "style"):
    if not row.get(key):
      raise UserError(f"{where}: no {key!r}; every line needs a content and a style "
                      "image", option="manifest")
  content = row["content"]
  if not isinstance(content, str):
    raise UserError(f"{where}: 'content' must be one path, got {content!r}",
                    option="manifest")
  try:
    styles = [str(s) for s in _items(row["style"])]
  except ValueError:
    styles = []
  if not styles:
    raise UserError(f"{where}: 'style' must be a path, a list of paths or a comma "
                    f"list, got {row['style']!r}", option="manifest")
  preset = row.get("preset")
  if preset is not None:
    _check_preset(preset, where)
  options = {k: parse_value(k, v, where) for k, v in row.items()
             if k in config.OPTIONS}
  content, styles = _absolute(content, base), [_absolute(s, base) for s in styles]
  if row.get("output"):
    name, extension = _output_name(row["output"], where)
  else:
    name, extension = default_name(content, styles), ".png"
  return Job(name=name, content=content, style=styles, options=options,
             preset=preset, extension=extension, source=where)


def _absolute(path, base):
  return os.path.normpath(os.path.join(base, os.path.expanduser(path)))


def _output_name(output, where):
  if not isinstance(output, str) or os.path.basename(output) != output or \
      output in (".", ".."):
    raise UserError(f"{where}: output {output!r} must be a file name (no folder): "
                    f"results go in {flag('output_dir')}", option="manifest")
  stem, extension = os.path.splitext(output)
  if not extension:
    extension = ".png"
  if extension.lower() not in image_lib.EXTENSIONS:
    raise UserError(f"{where}: output {output!r} must end in one of "
                    f"{', '.join(image_lib.EXTENSIONS)} (or have no extension: .png)",
                    option="manifest")
  return stem, extension


def safe(text):
  """A filesystem-safe, deterministic rendering of `text` for a file name (ASCII:
  accents dropped, other characters runs of '_')."""
  text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
  return re.sub(r"[^A-Za-z0-9.+=-]+", "_", str(text)).strip("._") or "_"


def default_name(content, styles, sweep=()):
  """'<content>__<style>[+<style>...][__<option>-<value>...]' from the file stems."""
  stem = lambda p: safe(os.path.splitext(os.path.basename(str(p)))[0])
  parts = [stem(content), "+".join(stem(s) for s in styles)]
  parts += [f"{name}-{safe(text.replace(',', '+'))}" for name, text in sweep]
  return "__".join(parts)


def check_names(jobs):
  """Every job needs its own output: two jobs with one name would overwrite each
  other, and summary/sheet are the batch's own files."""
  seen = {}
  for job in jobs:
    if job.name in RESERVED_NAMES:
      raise UserError(f"{job.source}: output name {job.name!r} is the batch's own "
                      f"file ({SUMMARY}, {SHEET}); choose another")
    if job.name in seen:
      raise UserError(f"{job.source}: output name {job.name!r} is also that of "
                      f"{seen[job.name]}; give each job its own 'output'")
    seen[job.name] = job.source


# --- Jobs from a product --------------------------------------------------------


def image_list(value, option):
  """The image files of a folder (sorted, subfolders included) or a comma list;
  UserError of `option` (e.g. nst-batch's content_images) if there are none."""
  if os.path.isdir(value):
    paths = sorted(os.path.join(root, n) for root, _, names in os.walk(value)
                   for n in names if n.lower().endswith(image_lib.EXTENSIONS))
    if not paths:
      raise UserError(f"{flag(option)}: no {'/'.join(image_lib.EXTENSIONS)} images in "
                      f"folder {value!r}", option=option)
    return [os.path.abspath(p) for p in paths]
  paths = [p.strip() for p in value.split(",") if p.strip()]
  if not paths:
    raise UserError(f"{flag(option)}: give a folder or a comma list of images",
                    option=option)
  return [os.path.abspath(os.path.expanduser(p)) for p in paths]


def parse_sweep(text):
  """'name=v1,v2' -> (name, [(value text, typed value), ...]). Values of list
  options (style_layers, weights) are separated by ';' since each is a comma list."""
  name, sep, values = text.partition("=")
  name = name.strip()
  where = f"{flag('sweep')}={text}"
  if not sep or not name:
    raise UserError(f"{where}: give name=value1,value2 (e.g. {flag('sweep')} "
                    "alpha=1e-3,1e-2)", option="sweep")
  if name != "preset" and (name not in config.OPTIONS or name in BATCH_ONLY):
    valid = ", ".join(n for n in config.OPTIONS if n not in BATCH_ONLY)
    raise UserError(f"{where}: {name!r} is not a run option; valid names are preset "
                    f"and {valid}", option="sweep")
  separator = ";" if name != "preset" and kind(name) in ("list", "floats", "weights",
                                                         "masks") else ","
  texts = [v.strip() for v in values.split(separator) if v.strip()]
  if not texts:
    raise UserError(f"{where}: no values; give name=value1{separator}value2",
                    option="sweep")
  if name == "preset":
    for t in texts:
      _check_preset(t, where)
    return name, [(t, t) for t in texts]
  return name, [(t, parse_value(name, t, where)) for t in texts]


def _check_preset(preset, where):
  if preset not in config.PRESETS:
    raise UserError(f"{where}: preset must be one of {', '.join(config.PRESETS)}, "
                    f"got {preset!r}", option="preset")


def product_jobs(contents, styles, sweeps=()):
  """Every (content, style, sweep values...) combination, content outermost, as Jobs
  named by default_name; `sweeps` as parse_sweep returns them."""
  jobs = []
  for content, style, *values in itertools.product(
      contents, styles, *[v for _, v in sweeps]):
    chosen = [(name, text, value) for (name, _), (text, value) in zip(sweeps, values)]
    options = {name: value for name, _, value in chosen if name != "preset"}
    preset = next((value for name, _, value in chosen if name == "preset"), None)
    jobs.append(Job(name=default_name(content, [style],
                                      [(n, t) for n, t, _ in chosen]),
                    content=content, style=[style], options=options, preset=preset,
                    source="product"))
  check_names(jobs)
  return jobs
