"""The default run against the PyTorch tool `pastiche` (1.6.0): the same photograph and
artwork, the same size and number of iterations, alternating in one invocation so that
the machine's drift affects both alike. Benchmark only: pastiche pulls in torch, so it
lives in a separate virtual environment whose `pastiche` command is given here.

  python -m venv ../venv-pastiche && ../venv-pastiche/bin/pip install pastiche==1.6.0 numpy
  python benchmarks/pastiche_compare.py --pastiche=../venv-pastiche/bin/pastiche \
      --content=../shared/images/content/tubingen.jpg \
      --style=../shared/images/style/starry_night.jpg --size=256 --num_steps=200

Time per iteration is optimisation time only (nst: the record's result.seconds;
pastiche: its printed elapsed time at the last step minus at step 0, so neither
includes start-up or image loading). Both tools keep their own defaults otherwise
(pastiche: max pooling, its loss weights; nst: its default settings and the automatic
evaluation mode): what a user gets from each. pastiche's L-BFGS (torch.optim.LBFGS,
max_iter=1, no line search) evaluates once per iteration; nst's evaluations per
iteration are reported beside its time. Results: benchmarks/results/pastiche.{json,md}.
"""

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

from absl import app
from absl import flags

import common

PASTICHE = flags.DEFINE_string("pastiche", None, "The pastiche command (in its own venv).",
                               required=True)
CONTENT = flags.DEFINE_string("content", None, "The photograph.", required=True)
STYLE = flags.DEFINE_string("style", None, "The artwork.", required=True)
SIZE = flags.DEFINE_integer("size", 256, "Longest side, px (both tools).")
NUM_STEPS = flags.DEFINE_integer("num_steps", 200, "Iterations (both tools).")
ROUNDS = flags.DEFINE_integer("rounds", 2, "Rounds of the two tools, order alternating.")


def run_nst(folder, index):
  output = os.path.join(folder, f"nst_{index}.png")
  subprocess.run(
      [sys.executable, "-m", "nst", f"--content_image={CONTENT.value}",
       f"--style_image={STYLE.value}", f"--image_size={SIZE.value}",
       f"--num_steps={NUM_STEPS.value}", f"--output={output}", "--plot=false"],
      check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  with open(output[:-4] + ".json", encoding="utf-8") as f:
    record = json.load(f)
  result = record["result"]
  return {"tool": "nst", "round": index, "seconds": result["seconds"],
          "iterations": result["iterations"], "evaluations": result["evaluations"],
          "eval_mode": record["eval_mode"]["used"]}


def run_pastiche(folder, index):
  steps = NUM_STEPS.value
  proc = subprocess.run(
      [PASTICHE.value, "--content", CONTENT.value, "--styles", STYLE.value,
       "--size", str(SIZE.value), "--num-steps", str(steps), "--info-step", str(steps),
       "--seed", "0", "--output", os.path.join(folder, f"pastiche_{index}.png")],
      check=True, capture_output=True, text=True)
  elapsed = {int(m.group(1)): float(m.group(2))
             for m in re.finditer(r"^(\d+)\s+([\d.]+)\s", proc.stdout, re.M)}
  return {"tool": "pastiche", "round": index, "seconds": elapsed[steps] - elapsed[0],
          "iterations": steps, "evaluations": steps}


def main(argv):
  del argv
  runs = []
  with tempfile.TemporaryDirectory() as folder:
    for index in range(ROUNDS.value):
      order = (run_nst, run_pastiche) if index % 2 == 0 else (run_pastiche, run_nst)
      for run in order:
        runs.append(run(folder, index))
        print(json.dumps(runs[-1]), flush=True)
  per_iteration = {tool: statistics.median(r["seconds"] / r["iterations"]
                                           for r in runs if r["tool"] == tool)
                   for tool in ("nst", "pastiche")}
  nst_runs = [r for r in runs if r["tool"] == "nst"]
  summary = {"cpu": common.describe_cpu(common.cpu_info()), "size": SIZE.value,
             "num_steps": NUM_STEPS.value, "content": os.path.basename(CONTENT.value),
             "style": os.path.basename(STYLE.value), "runs": runs,
             "seconds_per_iteration": per_iteration,
             "ratio": per_iteration["nst"] / per_iteration["pastiche"]}
  lines = [f"nst vs pastiche 1.6.0: {summary['content']} + {summary['style']}, "
           f"{SIZE.value} px, {NUM_STEPS.value} iterations, {ROUNDS.value} rounds "
           f"alternating; {summary['cpu']}", "",
           "| tool | s / iteration (median) | evaluations / iteration | runs s |",
           "| --- | ---: | ---: | --- |"]
  for tool in ("nst", "pastiche"):
    mine = [r for r in runs if r["tool"] == tool]
    evaluations = statistics.median(r["evaluations"] / r["iterations"] for r in mine)
    seconds = ", ".join(f"{r['seconds']:.1f}" for r in mine)
    lines.append(f"| {tool} | {per_iteration[tool]:.3f} | {evaluations:.2f} | {seconds} |")
  lines += ["", f"nst / pastiche per iteration: {summary['ratio']:.2f} "
            f"(nst eval mode: {', '.join(sorted({r['eval_mode'] for r in nst_runs}))})"]
  common.write_results("pastiche", summary, lines)


if __name__ == "__main__":
  app.run(main)
