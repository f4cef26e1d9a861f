"""What --serve costs a run: the same `nst` command with and without the live page (and
with a client that polls it as the page does), alternating, in one invocation, so that
the machine's drift affects every variant alike.

  python benchmarks/serve_cost.py --image_size=256 --num_steps=60 --rounds=3

Reports each run's optimisation time (the record's result.seconds) and wall time, the
ratio of the medians to the plain runs', and whether the images are bitwise equal.
Run it on an idle machine; results go to benchmarks/results/serve_cost.{json,md}.
"""

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from absl import app
from absl import flags

import common

IMAGE_SIZE = flags.DEFINE_integer("image_size", 256, "Longest side in px.")
NUM_STEPS = flags.DEFINE_integer("num_steps", 60, "L-BFGS iterations per run.")
ROUNDS = flags.DEFINE_integer("rounds", 3, "Rounds of the three variants.")
VARIANTS = ("plain", "serve", "serve+client")


def poll(url, stop):
  """What the page does while a run is shown: state, history and image every 0.5 s."""
  while not stop.is_set():
    for route in ("state.json", "history.json", "image.png"):
      try:
        with urllib.request.urlopen(url + route, timeout=10) as response:
          response.read()
      except OSError:
        pass
    stop.wait(0.5)


def one_run(variant, folder, index):
  output = os.path.join(folder, f"{variant.replace('+', '_')}_{index}.png")
  args = [sys.executable, "-m", "nst", f"--image_size={IMAGE_SIZE.value}",
          f"--num_steps={NUM_STEPS.value}", f"--output={output}", "--plot=false"]
  if variant != "plain":
    args.append("--serve")
  start = time.perf_counter()
  proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,  # pylint: disable=consider-using-with
                          text=True)
  stop, client = threading.Event(), None
  for line in proc.stdout:
    found = re.search(r"watch the run at (\S+)", line)
    if found and variant == "serve+client":
      client = threading.Thread(target=poll, args=(found.group(1), stop), daemon=True)
      client.start()
  code = proc.wait()
  wall = time.perf_counter() - start
  stop.set()
  if client is not None:
    client.join()
  if code != 0:
    raise SystemExit(f"serve_cost: {variant} run {index} failed ({code})")
  with open(output[:-4] + ".json", encoding="utf-8") as f:
    seconds = json.load(f)["result"]["seconds"]
  with open(output, "rb") as f:
    image = f.read()
  return {"variant": variant, "round": index, "seconds": seconds,
          "wall_seconds": round(wall, 3)}, image


def main(argv):
  del argv
  runs, images = [], {}
  with tempfile.TemporaryDirectory() as folder:
    for index in range(ROUNDS.value):
      # Rotate the order each round, so that no variant always runs first.
      order = VARIANTS[index % 3:] + VARIANTS[:index % 3]
      for variant in order:
        run, image = one_run(variant, folder, index)
        runs.append(run)
        images.setdefault(variant, set()).add(image)
        print(json.dumps(run), flush=True)
  plain = statistics.median(r["seconds"] for r in runs if r["variant"] == "plain")
  summary = {"cpu": common.describe_cpu(common.cpu_info()), "image_size": IMAGE_SIZE.value,
             "num_steps": NUM_STEPS.value, "runs": runs,
             "bitwise_equal": len(set.union(*images.values())) == 1, "medians": {}}
  lines = [f"`--serve` cost, {IMAGE_SIZE.value} px, {NUM_STEPS.value} iterations, "
           f"{ROUNDS.value} rounds alternating; {summary['cpu']}", "",
           "| variant | median s | / plain | runs s |", "| --- | ---: | ---: | --- |"]
  for variant in VARIANTS:
    times = [r["seconds"] for r in runs if r["variant"] == variant]
    median = statistics.median(times)
    summary["medians"][variant] = median
    lines.append(f"| {variant} | {median:.2f} | {median / plain:.3f} | "
                 f"{', '.join(f'{t:.2f}' for t in times)} |")
  lines += ["", f"images bitwise equal across all runs: {summary['bitwise_equal']}"]
  common.write_results("serve_cost", summary, lines)


if __name__ == "__main__":
  app.run(main)
