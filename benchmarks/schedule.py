"""Seconds against the quality judge's numbers (quality.py) for ways of spending fewer
iterations on the same picture: the reference (single scale, --num_steps, its step
images every --every iterations judged too: "fewer iterations" and where a stopping
rule on the relative loss change would have stopped), and coarse-to-fine schedules.

  python benchmarks/schedule.py --size=512 --num_steps=500 --every=50 \
      --schedule=0.5x:300,1x:100 --schedule=0.5x:200,1x:60 --output_dir=out/schedule

Each schedule is judged against the reference of its pair: the style distance within
5% of the reference's and the structure within 0.02 is "the same picture" (issue 22).
Every run's options are --options (API names) on top of the default preset; images
stay in --output_dir, so a rerun judges what exists.
"""

import json
import os

from absl import app
from absl import flags

import common
import quality
import quality_compare

from nst import image as image_lib
from nst.control import coarse_to_fine as pyramid
from nst import sheet as sheet_lib

SIZE = flags.DEFINE_integer("size", 512, "Longest side, px.")
EVERY = flags.DEFINE_integer("every", 50, "Reference step images every N iterations.")
SCHEDULES = flags.DEFINE_multi_string("schedule", [], "--pyramid values to compare.")
OPTIONS = flags.DEFINE_string("options", "", "API options of every run (a=b ...).")
REFERENCE_OPTIONS = flags.DEFINE_string(
    "reference_options", None, "API options of the reference only (a=b ..., on top of "
    "--options), e.g. precision=float32: today's default as issue 22 measures against. "
    "Given, the runs' own single scale (--options) is judged against it too, with its "
    "step images.")
TOLERANCES = flags.DEFINE_list("tolerances", ["1e-3", "3e-3", "1e-2"],
                               "Relative loss changes per 10 iterations, for the "
                               "stopping rule read off the reference's history.")
STYLE_BOUND, STRUCTURE_BOUND = 0.05, 0.02


def run(content, style, output, options):
  import nst  # pylint: disable=g-import-not-at-top
  record_path = output[:-4] + ".json"
  if not os.path.exists(record_path):
    nst.transfer(content, style, output, **dict(plot=False, **options))
  with open(record_path, encoding="utf-8") as f:
    return json.load(f)


def stop_at(history, tolerance, window=10):
  """The first iteration at which the total loss fell by less than `tolerance`
  (relative) over the last `window` iterations, read off a record's history."""
  by_iteration = {h["iteration"]: h["total"] for h in history}
  for h in history:
    before = by_iteration.get(h["iteration"] - window)
    if before is not None and (before - h["total"]) < tolerance * abs(before):
      return h["iteration"]
  return None


def _options(text):
  return dict(quality_compare.parse_variant("x:" + text)[1])


def _single(pair, content, style, folder, steps, options, suffix):
  """The single-scale run with step images every --every iterations: (image, record)."""
  out = os.path.join(folder, f"{pair}_{SIZE.value}_single{steps}{suffix}.png")
  record = run(content, style, out, dict(options, image_size=SIZE.value, num_steps=steps,
                                         save_per_step=EVERY.value, pyramid=""))
  return out, record


def _steps(pair, out, record, steps, photo, art, name):
  """Rows for a single-scale run's step images: what fewer iterations would give, with
  seconds estimated as its seconds per iteration times the iterations."""
  rows = []
  per_iteration = record["result"]["seconds"] / max(1, record["result"]["iterations"])
  step_dir = out[:-4] + "_steps"
  for k in range(EVERY.value, steps, EVERY.value):
    path = os.path.join(step_dir, f"step_{k:05d}.png")
    if os.path.exists(path):
      scores = quality.judge(quality.load(path), photo, art)
      rows.append(dict(pair=pair, schedule=f"{name}, first {k}", iterations=k,
                       seconds=round(per_iteration * k, 1), estimated=True, **scores))
  return rows


def main(argv):
  del argv
  base = _options(OPTIONS.value)
  folder = quality_compare.OUTPUT_DIR.value
  os.makedirs(folder, exist_ok=True)
  rows, grid, labels, captions = [], [], [], []
  steps = quality_compare.NUM_STEPS.value
  for pair in quality_compare.PAIR_NAMES.value:
    content, style = (f() for f in quality_compare.PAIRS[pair])
    photo, art = quality.load(content), quality.load(style)
    reference = dict(base, **_options(REFERENCE_OPTIONS.value or ""))
    ref_name = "reference" if REFERENCE_OPTIONS.value else f"single {steps}"
    out, record = _single(pair, content, style, folder, steps, reference,
                          "" if REFERENCE_OPTIONS.value is None else "_reference")
    ref = quality.judge(quality.load(out), photo, art)
    rows.append(dict(pair=pair, schedule=ref_name, iterations=steps,
                     seconds=record["result"]["seconds"], **ref))
    cells, texts = [photo, art, quality.load(out)], ["photograph", "artwork", ref_name]
    rows += _steps(pair, out, record, steps, photo, art,
                   "reference" if REFERENCE_OPTIONS.value else "single")
    if REFERENCE_OPTIONS.value is not None:
      out, record = _single(pair, content, style, folder, steps, base, "")
      scores = quality.judge(quality.load(out), photo, art)
      rows.append(dict(pair=pair, schedule=f"single {steps}", iterations=steps,
                       seconds=record["result"]["seconds"], **scores))
      cells.append(quality.load(out))
      texts.append(f"single {steps}")
      rows += _steps(pair, out, record, steps, photo, art, "single")
    for tolerance in TOLERANCES.value:
      k = stop_at(record["history"], float(tolerance))
      rows.append(dict(pair=pair, schedule=f"stop at rel. change < {tolerance}/10 its",
                       iterations=k, seconds=None, stop_rule=True))
    for schedule in SCHEDULES.value:
      name = schedule.replace(":", "-").replace(",", "_")
      out = os.path.join(folder, f"{pair}_{SIZE.value}_{name}.png")
      sized = {"image_size": SIZE.value} if pyramid.is_relative(schedule) else {}
      record = run(content, style, out, dict(base, pyramid=schedule, **sized))
      scores = quality.judge(quality.load(out), photo, art)
      rows.append(dict(pair=pair, schedule=schedule,
                       iterations=record["result"]["iterations"],
                       seconds=record["result"]["seconds"], **scores))
      cells.append(quality.load(out))
      texts.append(schedule)
    for r in (r for r in rows if r["pair"] == pair):
      if "style" in r:
        r["style_vs_ref"] = r["style"] / ref["style"] - 1
        r["structure_vs_ref"] = r["structure"] - ref["structure"]
        r["same_picture"] = (abs(r["style_vs_ref"]) <= STYLE_BOUND
                             and abs(r["structure_vs_ref"]) <= STRUCTURE_BOUND)
        # As much style or more (a lower distance), the layout within the bound.
        r["as_good"] = (r["style_vs_ref"] <= STYLE_BOUND
                        and abs(r["structure_vs_ref"]) <= STRUCTURE_BOUND)
      print(json.dumps(r), flush=True)
    grid.append(cells)
    labels.append(pair)
    captions.append(texts)
  image_lib.save_image(os.path.join(folder, f"schedule_{SIZE.value}.png"),
                       sheet_lib.contact_sheet(grid, labels, captions=captions,
                                               title=f"{SIZE.value} px: schedules"
                                               ).astype("float32"))
  lines = [f"Schedules at {SIZE.value} px ({OPTIONS.value or 'default preset'}); "
           f"{common.describe_cpu(common.cpu_info())}", "",
           "| pair | schedule | iterations | s | structure | style | style vs ref "
           "| structure vs ref | same picture | as good |",
           "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
  for r in rows:
    if "style" not in r:
      lines.append(f"| {r['pair']} | {r['schedule']} | {r['iterations']} | | | | | | | |")
      continue
    seconds = "-" if r["seconds"] is None else (
        f"{r['seconds']:.1f}" + ("*" if r.get("estimated") else ""))
    lines.append(f"| {r['pair']} | {r['schedule']} | {r['iterations']} | {seconds} | "
                 f"{r['structure']:.3f} | {r['style']:.4f} | {r['style_vs_ref']:+.1%} | "
                 f"{r['structure_vs_ref']:+.3f} | {'yes' if r['same_picture'] else 'no'} | "
                 f"{'yes' if r['as_good'] else 'no'} |")
  lines += ["", "* estimated: the reference's seconds per iteration times the iterations"]
  common.write_results(f"schedule_{SIZE.value}", {"rows": rows}, lines, folder=folder)


if __name__ == "__main__":
  app.run(main)
