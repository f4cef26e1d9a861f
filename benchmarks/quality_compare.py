"""nst's presets or variants against the PyTorch tool pastiche (1.6.0) on the same
photograph/artwork pairs, sizes and iterations, scored by the neutral judge
(quality.py), with seconds and a contact sheet per size (photograph, artwork, each nst
variant, pastiche per row). pastiche pulls in torch, so it lives in its own virtual
environment (benchmark only):

  python -m venv ../venv-pastiche && ../venv-pastiche/bin/pip install torch==2.13.0 \
      pastiche==1.6.0 numpy
  python benchmarks/quality_compare.py --pastiche=../venv-pastiche/bin/pastiche \
      --sizes=128,256 --num_steps=200 --variant=default:

A variant is NAME:FLAGS, FLAGS a space-separated list of nst options as the API takes
them (alpha=1e-3 normalize_vgg=False ...) or the word `plain`; "default:" is the
default preset at one scale of --num_steps, "NAME:plain" the plain command at --size
(no --num_steps given: the preset's own levels and iterations, its --pyramid or, for
a small result, its --small_pyramid). nst runs
in-process through nst.transfer (each variant's seconds are its optimisation time,
the record's result.seconds), pastiche as its command with its own defaults and
--size/--num-steps/--seed 0 (seconds: its printed elapsed time at the last step minus
at step 0). Every image is kept under --output_dir (default out/quality, git-ignored),
so a rerun judges what exists and runs only what is missing.
"""

import json
import os
import re
import subprocess
import sys

from absl import app
from absl import flags

import common
import quality

from nst import config
from nst import image as image_lib
from nst import sheet as sheet_lib

IMAGES = os.environ.get("NST_IMAGES_DIR", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "images"))


def _sample(name):
  return image_lib.sample_path(name)


def _shared(name):
  return os.path.join(IMAGES, "style" if name != "tubingen.jpg" else "content", name)


# (name, photograph path, artwork path): scikit-image's photographs (every install has
# them) and the shared reference artworks.
PAIRS = {
    "astronaut-starry": (lambda: _sample("astronaut.png"), lambda: _shared("starry_night.jpg")),
    "chelsea-ihc": (lambda: _sample("chelsea.png"), lambda: _sample("ihc.png")),
    "coffee-composition": (lambda: _sample("coffee.png"),
                           lambda: _shared("composition_vii.jpg")),
    "rocket-scream": (lambda: _sample("rocket.jpg"), lambda: _shared("scream.jpg")),
    "tubingen-shipwreck": (lambda: _shared("tubingen.jpg"),
                           lambda: _shared("shipwreck.jpg")),
    "astronaut-femme": (lambda: _sample("astronaut.png"),
                        lambda: _shared("femme_nue_assise.jpg")),
}

PASTICHE = flags.DEFINE_string("pastiche", None, "The pastiche command; none: skip it.")
PAIR_NAMES = flags.DEFINE_list("pairs", list(PAIRS), "Pairs to run.")
SIZES = flags.DEFINE_list("sizes", ["128", "256"], "Longest sides, px.")
NUM_STEPS = flags.DEFINE_integer("num_steps", 200, "Iterations (every tool).")
VARIANTS = flags.DEFINE_multi_string("variant", ["default:"], "NAME:FLAGS of nst.")
OUTPUT_DIR = flags.DEFINE_string("output_dir", "out/quality", "Images and results.")
NAME = flags.DEFINE_string("name", "quality", "Name of the results files.")
PASTICHE_THREADS = flags.DEFINE_integer(
    "pastiche_threads", 0, "OMP_NUM_THREADS of pastiche (0: torch's default). 1 keeps "
    "it efficient on a machine shared with other work (its seconds then are not "
    "comparable; the judge's numbers are).")


PLAIN = "plain"  # a variant's word for the plain command's own schedule


def parse_variant(text):
  """NAME:FLAGS -> (NAME, {option: value}), each value parsed as nst parses that
  option's flag (config.parse_option: lists split on commas, a --pyramid kept whole)."""
  name, _, rest = text.partition(":")
  options = {}
  for item in rest.split():
    if item == PLAIN:
      options[PLAIN] = True
      continue
    key, _, value = item.partition("=")
    options[key] = config.parse_option(key, value)
  return name, options


def run_nst(content, style, size, options, output):
  import nst  # pylint: disable=g-import-not-at-top
  record_path = output[:-4] + ".json"
  if not os.path.exists(record_path):
    # An absolute --pyramid sets the size and iterations itself.
    from nst.control import coarse_to_fine as pyramid  # pylint: disable=g-import-not-at-top
    sized = ({} if "pyramid" in options and not pyramid.is_relative(options["pyramid"])
             else {"image_size": size})
    options = dict(options)
    if "pyramid" not in options and not options.pop(PLAIN, False):
      sized["num_steps"] = NUM_STEPS.value
    nst.transfer(content, style, output, **dict(sized, plot=False, **options))
  with open(record_path, encoding="utf-8") as f:
    record = json.load(f)
  return {"seconds": record["result"]["seconds"],
          "iterations": record["result"]["iterations"],
          "evaluations": record["result"]["evaluations"],
          "precision": record["settings"].get("precision")}


def run_pastiche(content, style, size, output):
  meta = output[:-4] + ".json"
  if not os.path.exists(meta):
    steps = NUM_STEPS.value
    proc = subprocess.run(
        [PASTICHE.value, "--content", content, "--styles", style, "--size", str(size),
         "--num-steps", str(steps), "--info-step", str(steps), "--seed", "0",
         "--output", output], check=True, capture_output=True, text=True,
        env=dict(os.environ, **({"OMP_NUM_THREADS": str(PASTICHE_THREADS.value)}
                                if PASTICHE_THREADS.value else {})))
    elapsed = {int(m.group(1)): float(m.group(2))
               for m in re.finditer(r"^(\d+)\s+([\d.]+)\s", proc.stdout, re.M)}
    with open(meta, "w", encoding="utf-8") as f:
      json.dump({"seconds": elapsed[steps] - elapsed[0], "iterations": steps,
                 "evaluations": steps}, f)
  with open(meta, encoding="utf-8") as f:
    return json.load(f)


def main(argv):
  del argv
  variants = [parse_variant(v) for v in VARIANTS.value]
  os.makedirs(OUTPUT_DIR.value, exist_ok=True)
  rows = []
  for size in (int(s) for s in SIZES.value):
    grid, labels, captions = [], [], []
    for pair in PAIR_NAMES.value:
      content, style = (f() for f in PAIRS[pair])
      photo, art = quality.load(content), quality.load(style)
      shown = image_lib.scaled_shape(photo.shape, size)  # cells at the run's size
      cells = [image_lib.resize(photo, shown), image_lib.resize(art, shown)]
      texts = ["photograph", "artwork"]
      tools = [(name, lambda out, o=options: run_nst(content, style, size, o, out))
               for name, options in variants]
      if PASTICHE.value:
        tools.append(("pastiche", lambda out: run_pastiche(content, style, size, out)))
      for tool, run in tools:
        out = os.path.join(OUTPUT_DIR.value, f"{pair}_{size}_{tool}.png")
        timing = run(out)
        result = quality.load(out)
        scores = quality.judge(result, photo, art)
        rows.append(dict(pair=pair, size=size, tool=tool, **timing, **scores))
        print(json.dumps(rows[-1]), flush=True)
        cells.append(result)
        texts.append(f"{tool}: st {scores['structure']:.2f} sty {scores['style']:.3f}")
      grid.append(cells)
      labels.append(pair)
      captions.append(texts)
    sheet = sheet_lib.contact_sheet(
        grid, row_labels=labels, captions=captions,
        title=f"{size} px, {NUM_STEPS.value} iterations; st = structure, "
              "sty = style distance (lower: more style)")
    image_lib.save_image(os.path.join(OUTPUT_DIR.value, f"{NAME.value}_{size}.png"),
                         sheet.astype("float32"))
  lines = [f"Quality judge (benchmarks/quality.py), {NUM_STEPS.value} iterations; "
           f"{common.describe_cpu(common.cpu_info())}", "",
           "| pair | px | tool | structure | style | content | s |",
           "| --- | ---: | --- | ---: | ---: | ---: | ---: |"]
  for r in rows:
    lines.append(f"| {r['pair']} | {r['size']} | {r['tool']} | {r['structure']:.3f} | "
                 f"{r['style']:.4f} | {r['content']:.3f} | {r['seconds']:.1f} |")
  common.write_results(NAME.value, {"rows": rows, "variants": VARIANTS.value,
                                    "num_steps": NUM_STEPS.value,
                                    "cpu": common.describe_cpu(common.cpu_info())},
                       lines, folder=OUTPUT_DIR.value)


if __name__ == "__main__":
  app.run(main)
