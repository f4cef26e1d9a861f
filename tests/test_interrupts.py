"""SIGINT and SIGTERM in every phase of a run (issue 26) and of a batch (issue 23):
one line saying what was kept, exit 130 / 143, no traceback, caches whole.

Each process test starts the program through tests/pause_entry.py, which waits for a
signal on entering the phase (nst/phases.py): the test sends it once the program says
`paused at ...`, so the signal's handler runs inside that phase on any machine, with
no sleep and no race against the run.
"""

import json
import os
import signal
import subprocess
import sys

from helpers import SCRIPTS
from helpers import photograph
from helpers import with_ctrl_c  # pylint: disable=g-bad-import-order
import numpy as np
import pytest

from nst import files
from nst import image
from nst import phases
from nst.engine import evalmode
from nst.engine import normalize
from nst.runs import batch
from nst.runs import jobs as jobs_lib
from nst.runs import plan as run
from nst.runs import records

PAUSE_ENTRY = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "pause_entry.py")
CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
# Small and shallow (relu1_1 .. relu2_1), plainly evaluated: a run costs mostly
# TensorFlow's import and tracing.
SMALL = ["--preset=original", "--image_size=32", "--content_layers=relu2_1",
         "--style_layers=relu1_1,relu2_1"]


@pytest.fixture(autouse=True)
def ctrl_c_raises():
  """Ctrl-C in this process raises KeyboardInterrupt, as in a terminal, for the tests
  that raise SIGINT here. The in-process counterpart of helpers.with_ctrl_c: a suite
  started in the background by a shell without job control inherits SIGINT ignored,
  and nst rightly holds no signal its caller ignores (interrupts.held)."""
  previous = signal.signal(signal.SIGINT, signal.default_int_handler)
  yield
  signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
  folder = tmp_path_factory.mktemp("pair")
  image.save_image(str(folder / "c.png"), photograph(48))
  image.save_image(str(folder / "s.png"), photograph(48)[::-1])
  image.save_image(str(folder / "f.png"), photograph(40)[:, ::-1])
  return folder


@pytest.fixture
def weights_here(tmp_path, weights_path):
  """The real weights seen from a folder of this test's own, so that the caches
  written beside them (normalisation factors, eval-mode choice) are its own."""
  folder = tmp_path / "vgg"
  folder.mkdir()
  link = folder / os.path.basename(str(weights_path))
  os.symlink(os.path.abspath(str(weights_path)), link)
  return link


def paused(spec, program, args, sig, cwd):
  """Run `program` (nst or batch) paused on entering phase `spec`, send `sig` there;
  return (exit code, stdout, stderr without the pause line)."""
  proc = subprocess.Popen(
      [sys.executable, PAUSE_ENTRY, spec, program, "--", *args], cwd=cwd,
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), preexec_fn=with_ctrl_c)
  before = []
  for line in proc.stderr:
    if line.startswith(f"paused at {spec}"):
      proc.send_signal(sig)
      break
    before.append(line)
  out, err = proc.communicate(timeout=600)
  return proc.returncode, out, "".join(before) + err


def one_line(err, start):
  """The only line on stderr (a leading blank line aside) starts with `start`."""
  lines = [line for line in err.splitlines() if line.strip()]
  assert len(lines) == 1 and lines[0].startswith(start), err
  assert "Traceback" not in err
  return lines[0]


def no_half_files(folder):
  """No temporary file of an atomic write is left anywhere under `folder`."""
  left = [name for _, _, names in os.walk(folder) for name in names
          if ".part" in name]
  assert not left, left


# (phase, signal, extra flags, what the line says). One signal per phase; targets
# with both, so that SIGINT and SIGTERM are seen to take the same path.
BEFORE_THE_FIRST_STEP = [
    ("inputs", signal.SIGINT, [], "reading and checking the inputs"),
    ("tensorflow", signal.SIGTERM, [], "loading TensorFlow"),
    ("network", signal.SIGINT, [], "reading the VGG19 weights"),
    ("normalization", signal.SIGTERM, ["--normalize_vgg"],
     "computing the VGG19 normalisation factors"),
    ("targets", signal.SIGINT, [], "computing the targets"),
    ("targets", signal.SIGTERM, [], "computing the targets"),
    ("eval_mode", signal.SIGTERM, ["--eval_mode=auto"],
     "choosing the evaluation mode"),
    ("trace", signal.SIGINT, [], "tracing the loss"),
    ("synthesis", signal.SIGTERM, ["--fine_style_image=f.png",
                                   "--fine_style_steps=2"],
     "synthesising the combined style image"),
]


@pytest.mark.parametrize("phase,sig,extra,doing", BEFORE_THE_FIRST_STEP,
                         ids=[f"{p}-{signal.Signals(s).name}"
                              for p, s, _, _ in BEFORE_THE_FIRST_STEP])
def test_nst_interrupted_before_the_first_step_writes_nothing(
    tmp_path, pair, weights_here, phase, sig, extra, doing):
  for name in ("c.png", "s.png", "f.png"):
    os.symlink(pair / name, tmp_path / name)
  (tmp_path / "out").mkdir()
  args = ["--content_image=c.png", "--style_image=s.png", *SMALL, "--num_steps=3",
          f"--vgg_weights={weights_here}", "--output=out/o.png", *extra]
  code, _, err = paused(phase, "nst", args, sig, tmp_path)
  assert code == CODES[sig], err
  line = one_line(err, "nst: interrupted while ")
  assert doing in line and line.endswith("before the first step; nothing was written")
  assert os.listdir(tmp_path / "out") == []
  # The caches beside the weights: whole, or not there.
  for name in os.listdir(weights_here.parent):
    path = weights_here.parent / name
    if name.endswith(".npz"):
      with np.load(path) as data:
        assert set(normalize.RELU_LAYERS) <= set(data.files)
    elif name == evalmode.CACHE_NAME:
      assert json.loads(path.read_text())["nst_eval_mode"] == evalmode.CACHE_FORMAT
  no_half_files(tmp_path)


def test_nst_interrupted_while_writing_completes_the_outputs_first(tmp_path, pair,
                                                                  weights_path):
  args = [f"--content_image={pair / 'c.png'}", f"--style_image={pair / 's.png'}",
          *SMALL, "--num_steps=2", "--output=o.png"]
  code, _, err = paused("write", "nst", args, signal.SIGTERM, tmp_path)
  assert code == 143, err
  line = one_line(err, "nst: interrupted while writing the outputs; they were "
                  "completed first")
  assert str(tmp_path / "o.png") in line
  record = records.validate_record(json.loads((tmp_path / "o.json").read_text()))
  assert not record["result"]["partial"] and record["result"]["iterations"] == 2
  assert (tmp_path / "o_loss.png").is_file() and not (tmp_path / "o.ckpt.npz").exists()
  no_half_files(tmp_path)


def test_nst_interrupted_between_levels_keeps_level_one(tmp_path, pair, weights_path):
  args = [f"--content_image={pair / 'c.png'}", f"--style_image={pair / 's.png'}",
          *SMALL[:1], *SMALL[2:], "--pyramid=32:2,48:2", "--output=p.png"]
  code, _, err = paused("level", "nst", args, signal.SIGINT, tmp_path)
  assert code == 130, err
  line = one_line(err, "nst: interrupted between levels; ")
  assert "add --resume to continue at level 2" in line
  assert (tmp_path / "p.ckpt.npz").is_file() and (tmp_path / "p_level1.png").is_file()
  assert not (tmp_path / "p.png").exists()


def test_nst_interrupted_before_the_transfer_keeps_the_combined_style_image(
    tmp_path, pair, weights_path):
  # targets:1 is the synthesis's, targets:2 the transfer's.
  args = [f"--content_image={pair / 'c.png'}", f"--style_image={pair / 's.png'}",
          *SMALL, "--num_steps=2", f"--fine_style_image={pair / 'f.png'}",
          "--fine_style_steps=2", "--output=t.png"]
  code, _, err = paused("targets:2", "nst", args, signal.SIGTERM, tmp_path)
  assert code == 143, err
  line = one_line(err, "nst: interrupted while computing the targets, before the "
                  "transfer's first step; the combined style image")
  assert line.endswith("is kept; add --resume to continue")
  assert (tmp_path / "t_style.png").is_file() and not (tmp_path / "t.png").exists()
  resumed = subprocess.run([sys.executable, "-m", "nst", *args, "--resume"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=600,
                           check=False)
  assert resumed.returncode == 0, resumed.stderr
  assert "kept from the interrupted run" in resumed.stdout


# --- nst-batch -------------------------------------------------------------------


@pytest.fixture
def manifest(tmp_path, pair):
  """Two jobs of 20 steps, reported every 5: job a's third iterate is step 10."""
  path = tmp_path / "jobs.jsonl"
  path.write_text("".join(json.dumps(row) + "\n" for row in [
      {"content": str(pair / "c.png"), "style": str(pair / "s.png"), "output": "a"},
      {"content": str(pair / "s.png"), "style": str(pair / "c.png"), "output": "b"},
  ]))
  return path


def batch_args(manifest_path, *extra):
  return [f"--manifest={manifest_path}", "--output_dir=out", *SMALL,
          "--num_steps=20", "--report_every=5", *extra]


def summary_of(folder):
  return json.loads((folder / "out" / jobs_lib.SUMMARY).read_text())


def test_sigterm_to_a_batch_keeps_the_running_job_and_the_rerun_continues_it(
    tmp_path, manifest, weights_path):
  # step:3 is job a's third iterate: step 10 of 20.
  code, _, err = paused("step:3", "batch", batch_args(manifest), signal.SIGTERM,
                        tmp_path)
  assert code == 143, err
  line = one_line(err, "nst-batch: interrupted (SIGTERM) with 0/2 jobs done")
  assert "partial image and checkpoint kept: a" in line
  summary = summary_of(tmp_path)
  assert summary["interrupted"] and summary["signal"] == "SIGTERM"
  assert [e["state"] for e in summary["jobs"]] == ["interrupted", "pending"]
  assert summary["jobs"][0]["iterations"] == 10
  out = tmp_path / "out"
  assert (out / "a.ckpt.npz").is_file() and (out / "a.png").is_file()
  record = json.loads((out / "a.json").read_text())
  assert record["result"]["partial"] and record["result"]["iterations"] == 10

  lines = []
  again = batch.run_batch(jobs_lib.read_manifest(str(manifest)), str(out),
                          dict(image_size=32, num_steps=20, report_every=5,
                               content_layers=("relu2_1",),
                               style_layers=("relu1_1", "relu2_1")),
                          "original", log=lines.append, sheet=False)
  assert "nst-batch: a: continuing from its checkpoint" in lines, lines
  assert [e["state"] for e in again["jobs"]] == ["done", "done"]
  record = json.loads((out / "a.json").read_text())
  assert record["result"]["iterations"] == 20 and not record["result"]["partial"]
  assert [h["iteration"] for h in record["history"]] == [0, 5, 10, 15, 20]
  assert not (out / "a.ckpt.npz").exists()


BATCH_PHASES = [
    # Reading the manifest, in main: no summary yet.
    ("inputs", signal.SIGTERM, "nst-batch: interrupted while reading and checking "
     "the inputs; no job was run", ["pending", "pending"], None),
    # Checking job a's inputs up front: the summary says interrupted.
    ("inputs:2", signal.SIGINT, "nst-batch: interrupted (SIGINT) with 0/2 jobs done;"
     " run the same command again", ["pending", "pending"], "SIGINT"),
    ("targets", signal.SIGTERM, "nst-batch: interrupted (SIGTERM) with 0/2 jobs done;"
     " run the same command again", ["interrupted", "pending"], "SIGTERM"),
    # Writing job a's outputs: they are completed, then the batch stops.
    ("write", signal.SIGINT, "nst-batch: interrupted (SIGINT) with 1/2 jobs done;",
     ["done", "pending"], "SIGINT"),
]


@pytest.mark.parametrize("phase,sig,message,states,signal_name", BATCH_PHASES,
                         ids=[p for p, *_ in BATCH_PHASES])
def test_a_batch_interrupted_in_a_phase_says_so_in_one_line(
    tmp_path, manifest, weights_path, phase, sig, message, states, signal_name):
  code, _, err = paused(phase, "batch", batch_args(manifest), sig, tmp_path)
  assert code == CODES[sig], err
  one_line(err, message)
  no_half_files(tmp_path)
  if signal_name is None:
    assert not (tmp_path / "out" / jobs_lib.SUMMARY).exists()
    return
  summary = summary_of(tmp_path)
  assert summary["interrupted"] and summary["signal"] == signal_name
  assert [e["state"] for e in summary["jobs"]] == states
  if states[0] == "done":
    record = json.loads((tmp_path / "out" / "a.json").read_text())
    assert not record["result"]["partial"]


def test_sigterm_to_a_figure_script_keeps_the_running_cell(tmp_path, images_dir,
                                                           weights_path):
  # step:2: the first cell's second iterate, after its first chunk of iterations.
  args = ["--quick", f"--images_dir={images_dir}", f"--output_dir={tmp_path}",
          "--num_steps=20"]
  code, _, err = paused("step:2", os.path.join(SCRIPTS, "figure1.py"), args,
                        signal.SIGTERM, tmp_path)
  assert code == 143, err
  one_line(err, "figure1: interrupted; the finished cells and the interrupted one's "
           "checkpoint are kept")
  summary = json.loads((tmp_path / jobs_lib.SUMMARY).read_text())
  assert summary["interrupted"] and summary["signal"] == "SIGTERM"
  interrupted = [e for e in summary["jobs"] if e["state"] == "interrupted"]
  assert len(interrupted) == 1 and interrupted[0]["iterations"] == 10
  assert (tmp_path / (interrupted[0]["name"] + ".ckpt.npz")).is_file()


# --- The Python API and the writers, in this process -------------------------------


@pytest.fixture
def interrupt_at(monkeypatch):
  """interrupt_at(phase): Ctrl-C as the run enters `phase` (a KeyboardInterrupt
  raised there, as SIGINT's handler raises it)."""
  def install(phase):
    def observe(name):
      if name == phase:
        raise KeyboardInterrupt
    monkeypatch.setattr(phases, "observers", [observe])
  return install


@pytest.mark.parametrize("phase", ["inputs", "targets", "eval_mode", "trace"])
def test_the_api_raises_run_error_before_the_first_step(tmp_path, pair, weights_path,
                                                        interrupt_at, phase):
  interrupt_at(phase)
  with pytest.raises(run.RunError, match=f"interrupted while {phases.words(phase)}, "
                     "before the first step; nothing was written") as stopped:
    run.transfer(str(pair / "c.png"), str(pair / "s.png"), str(tmp_path / "o.png"),
                 preset="original", image_size=32, num_steps=2)
  assert stopped.value.exit_code == 130
  assert os.listdir(tmp_path) == []


def test_the_api_holds_ctrl_c_while_writing_and_returns_the_whole_result(
    tmp_path, pair, weights_path, monkeypatch):
  def observe(name):
    if name == "write":
      signal.raise_signal(signal.SIGINT)  # held: the outputs are completed first
  monkeypatch.setattr(phases, "observers", [observe])
  result = run.transfer(str(pair / "c.png"), str(pair / "s.png"),
                        str(tmp_path / "o.png"), preset="original", image_size=32,
                        num_steps=2)
  assert result.stopped == "num_steps" and not result.partial
  assert result.interrupted and result.exit_code == 130
  assert json.loads((tmp_path / "o.json").read_text())["result"]["iterations"] == 2


def test_an_interrupted_atomic_write_leaves_the_old_file_or_none(tmp_path):
  path = tmp_path / "r.json"
  for old in (None, "an earlier result"):
    if old is not None:
      path.write_text(old)
    with pytest.raises(KeyboardInterrupt):
      with files.atomic_path(str(path)) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
          f.write('{"half": ')
        signal.raise_signal(signal.SIGINT)  # Ctrl-C in the middle of the write
        with open(tmp, "a", encoding="utf-8") as f:
          f.write("1}")
    assert os.listdir(tmp_path) == ([] if old is None else ["r.json"])
    assert old is None or path.read_text() == old


def test_the_normalization_cache_is_whole_or_absent_after_ctrl_c(tmp_path,
                                                                 monkeypatch):
  """A signal while the factors are saved: no cache (and no temporary file), so the
  next run computes them again and caches them whole. (The factors are made up: the
  cache's writer is what is tested; it sits beside whatever the weights file is.)"""
  weights = tmp_path / "vgg19.h5"
  weights.write_bytes(b"weights")
  means = {l: np.ones(4) for l in normalize.RELU_LAYERS}
  monkeypatch.setattr(normalize, "activation_means", lambda *_: means)
  savez = np.savez

  def interrupted_savez(f, **arrays):
    f.write(b"PK half a file")
    signal.raise_signal(signal.SIGINT)
    savez(f, **arrays)
  source = normalize.builtin_source().split(",")[0]
  monkeypatch.setattr(np, "savez", interrupted_savez)
  with pytest.raises(KeyboardInterrupt):
    normalize.load_or_compute(str(weights), "avg", source, {}, log=lambda *_: None)
  assert os.listdir(tmp_path) == ["vgg19.h5"]
  monkeypatch.setattr(np, "savez", savez)
  factors, meta = normalize.load_or_compute(str(weights), "avg", source, {},
                                            log=lambda *_: None)
  assert os.path.isfile(meta["cache"]) and len(os.listdir(tmp_path)) == 2
  again, _ = normalize.load_or_compute(str(weights), "avg", source, {})
  np.testing.assert_array_equal(again["relu1_1"], factors["relu1_1"])
