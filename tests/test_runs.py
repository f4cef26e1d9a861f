"""Runs that never lose work: interrupt and resume, non-finite stops, no accidental
overwrites, records that reproduce a run, memory refusal."""

import json
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest

from helpers import photograph
from helpers import paused_nst  # pylint: disable=g-bad-import-order
from helpers import with_ctrl_c  # pylint: disable=g-bad-import-order
from nst import image
from nst.engine import memory
from nst.runs import records

# A run that cannot finish before it is signalled, however fast or slow the machine:
# under tests/pause_entry.py at_step=N it waits for a signal once it has reported that
# step.
ENDLESS = ["--image_size=32", "--num_steps=1000", "--report_every=10",
           "--alpha=1e-3", "--preset=original"]
PAUSE_AT = 10


def nst_args(*args):
  return [sys.executable, "-m", "nst", *args]


def run(*args, cwd):
  return subprocess.run(nst_args(*args), capture_output=True, text=True, cwd=cwd,
                        timeout=600, check=False)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
  folder = tmp_path_factory.mktemp("pair")
  image.save_image(str(folder / "c.png"), photograph(48))
  image.save_image(str(folder / "s.png"), photograph(48)[::-1])
  return [f"--content_image={folder / 'c.png'}", f"--style_image={folder / 's.png'}"]


def interrupt_at(args, cwd, step, sig):
  """Start nst, send `sig` once it reports `step`, return (exit code, stdout)."""
  proc = subprocess.Popen(paused_nst(f"at_step={step}", *args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, cwd=cwd,
                          preexec_fn=with_ctrl_c)
  lines = []
  for line in proc.stdout:
    lines.append(line)
    m = re.match(r"step +(\d+)/", line)
    if m and int(m.group(1)) >= step:
      proc.send_signal(sig)
      break
  out, err = proc.communicate(timeout=600)
  return proc.returncode, "".join(lines) + out, err


def test_sigint_saves_partial_and_resume_finishes_the_same_run(tmp_path, pair,
                                                                weights_path):
  args = [*pair, *ENDLESS, "--output=cut.png"]
  code, _, err = interrupt_at(args, tmp_path, PAUSE_AT, signal.SIGINT)
  assert code == 130, err
  assert "checkpoint" in err and "--resume" in err
  record = records.validate_record(json.loads((tmp_path / "cut.json").read_text()))
  assert record["result"]["partial"] and record["result"]["stopped"] == "interrupted"
  done = record["result"]["iterations"]
  assert done == PAUSE_AT  # it stopped where it waited for the signal
  assert image.load_image(str(tmp_path / "cut.png")).shape == (32, 32, 3)
  assert (tmp_path / "cut.ckpt.npz").is_file()

  # Without --resume the checkpoint is not silently thrown away.
  refused = run(*args, cwd=tmp_path)
  assert refused.returncode == 2 and "--resume" in refused.stderr

  # Resumed for 10 more iterations than it had done...
  total = [f"--num_steps={done + 10}"]
  resumed = run(*args, *total, "--resume", cwd=tmp_path)
  assert resumed.returncode == 0, resumed.stderr
  record = records.validate_record(json.loads((tmp_path / "cut.json").read_text()))
  assert record["result"]["iterations"] == done + 10
  assert not record["result"]["partial"]
  steps = [h["iteration"] for h in record["history"]]
  assert steps == sorted(set(steps)) and steps[0] == 0 and steps[-1] == done + 10
  assert not (tmp_path / "cut.ckpt.npz").exists()
  # ...it is the uninterrupted run of that length, exactly: the L-BFGS history came
  # back too. (In this process, through the run path the CLI calls.)
  import nst  # pylint: disable=g-import-not-at-top
  whole = nst.transfer(*[a.split("=", 1)[1] for a in pair], preset="original",
                       image_size=32, num_steps=done + 10, report_every=10, alpha=1e-3)
  np.testing.assert_array_equal(image.load_image(str(tmp_path / "cut.png")),
                                whole.image)


def test_sigterm_also_saves_a_checkpoint(tmp_path, pair, weights_path):
  code, _, err = interrupt_at([*pair, *ENDLESS, "--output=t.png"], tmp_path, PAUSE_AT,
                              signal.SIGTERM)
  assert code == 143, err
  assert (tmp_path / "t.ckpt.npz").is_file() and (tmp_path / "t.png").is_file()
  record = json.loads((tmp_path / "t.json").read_text())
  assert record["result"]["stopped"] == "interrupted"


def test_non_finite_loss_stops_cleanly_and_writes_nothing(tmp_path, pair, weights_path):
  # From noise (the original preset): from the photograph the content loss is 0.
  result = run(*pair, "--image_size=32", "--num_steps=5", "--alpha=1e38",
               "--preset=original", "--output=n.png", cwd=tmp_path)
  assert result.returncode == 3
  assert "not finite" in result.stderr and "Likely causes" in result.stderr
  assert "Traceback" not in result.stderr
  assert os.listdir(tmp_path) == []


def test_record_validates_and_reproduces_the_run(tmp_path, pair, weights_path):
  first = run(*pair, "--image_size=32", "--num_steps=8", "--seed=3", "--output=a.png",
              cwd=tmp_path)
  assert first.returncode == 0, first.stderr
  record = records.validate_record(json.loads((tmp_path / "a.json").read_text()))
  assert record["weights"]["md5"] == "253f8cb515780f3b799900260a226db6"
  assert record["seed"] == 3 and record["device"] == "CPU"
  assert record["versions"]["tensorflow"] and record["flags"]["num_steps"] == 8
  # A loss per style layer used: at 32 px the default keeps the two whose maps span
  # 16 positions or more (--style_min_positions=16); the flags keep the five given.
  assert set(record["history"][-1]["style_layers"]) == {"relu1_1", "relu2_1"}
  assert record["settings"]["style_layers"] == ["relu1_1", "relu2_1"]
  assert len(record["flags"]["style_layers"]) == 5
  assert (tmp_path / "a_loss.png").is_file()

  again = run(*record["argv"], "--output=b.png", cwd=tmp_path)
  assert again.returncode == 0, again.stderr
  np.testing.assert_array_equal(image.load_image(str(tmp_path / "a.png")),
                                image.load_image(str(tmp_path / "b.png")))

  # The same output again is refused without --overwrite, and nothing changes.
  before = (tmp_path / "a.png").read_bytes()
  refused = run(*record["argv"], "--output=a.png", cwd=tmp_path)
  assert refused.returncode == 2 and "--overwrite" in refused.stderr
  assert (tmp_path / "a.png").read_bytes() == before
  replaced = run(*record["argv"], "--output=a.png", "--overwrite", "--noplot",
                 cwd=tmp_path)
  assert replaced.returncode == 0, replaced.stderr


def test_memory_estimate_matches_measurements_and_refuses_what_does_not_fit():
  layers = ["relu4_2", "relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
  # Measured peaks (getrusage) of real runs: within 35% above, never below.
  for side, measured in ((256, 1.21e9), (512, 1.90e9), (1024, 4.35e9)):
    estimate = memory.estimate_bytes((side, side), layers, 10)
    assert measured <= estimate <= 1.35 * measured, (side, estimate)
  # XLA keeps buffers of its own (memory.XLA_FACTOR): the Tübingen photograph at
  # 1024x768, 3 iterations, peaked at 5.09 GB with --eval_mode=xla and 5.28 GB with
  # auto timing both (plain: 3.96 GB).
  estimate = memory.estimate_bytes((768, 1024), layers, 10, "xla")
  assert 5.28e9 <= estimate <= 1.35 * 5.09e9, estimate
  assert 3.96e9 <= memory.estimate_bytes((768, 1024), layers, 10) <= 1.35 * 3.96e9
  side = memory.largest_fitting_side((768, 1024), layers, 10, available=4e9)
  assert memory.estimate_bytes((round(side * 0.75), side), layers, 10) <= 4e9
  assert memory.estimate_bytes((round((side + 8) * 0.75), side + 8), layers, 10) > 4e9


def test_cli_refuses_a_size_that_does_not_fit(tmp_path, pair):
  result = run(*pair, "--image_size=60000", "--output=big.png", cwd=tmp_path)
  assert result.returncode == 2
  assert re.search(r"GiB is available; the largest that fits is --image_size=\d+",
                   result.stderr), result.stderr
  assert os.listdir(tmp_path) == []
