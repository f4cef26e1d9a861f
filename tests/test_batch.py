"""nst-batch: manifests and sweeps of runs that resume, locally or on Ray."""

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading

from helpers import photograph
from helpers import with_ctrl_c  # pylint: disable=g-bad-import-order
import numpy as np
from PIL import Image
import pytest

from nst import image
from nst.errors import UserError
from nst.runs import batch
from nst.runs import executors
from nst.runs import jobs as jobs_lib

# Small and shallow (relu1_1 .. relu2_1): a job costs mostly TensorFlow's tracing.
COMMON = dict(image_size=32, num_steps=3, content_layers=("relu2_1",),
              style_layers=("relu1_1", "relu2_1"))
PRESET = "original"
MANIFEST = [
    {"content": "c1.png", "style": "s1.png", "output": "a"},
    {"content": "c2.png", "style": ["s1.png", "s2.png"], "output": "b", "alpha": 1e-3},
    {"content": "c1.png", "style": "s2.png", "output": "c.jpg", "seed": 2},
]


def write_lines(path, rows):
  path.write_text("".join(json.dumps(r) + "\n" for r in rows))
  return str(path)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
  """Four small images and the 3-job manifest."""
  folder = tmp_path_factory.mktemp("batch")
  image.save_image(str(folder / "c1.png"), photograph(48))
  image.save_image(str(folder / "c2.png"), photograph(40)[::-1])
  image.save_image(str(folder / "s1.png"), photograph(48)[:, ::-1])
  image.save_image(str(folder / "s2.png"), photograph(44).transpose(1, 0, 2))
  write_lines(folder / "jobs.jsonl", MANIFEST)
  return folder


def stop_after_first(entry):
  """As Ctrl-C between jobs 1 and 2: deterministic, whatever the machine's speed."""
  del entry
  raise KeyboardInterrupt


@pytest.fixture(scope="module")
def local_run(folder, weights_path):
  """The manifest run locally, stopped after job 1, then run again to the end:
  (first summary, mtime of job 1's record after it, final summary, output dir)."""
  out = str(folder / "local")
  jobs = jobs_lib.read_manifest(str(folder / "jobs.jsonl"))
  first = batch.run_batch(jobs, out, COMMON, PRESET, on_job=stop_after_first,
                          log=print)
  mtime = os.stat(os.path.join(out, "a.json")).st_mtime_ns
  final = batch.run_batch(jobs, out, COMMON, PRESET, log=print)
  return first, mtime, final, out


def test_manifest_writes_images_records_summary_and_sheet(local_run):
  _, _, summary, out = local_run
  assert batch.exit_code(summary) == 0
  written = json.loads(open(os.path.join(out, jobs_lib.SUMMARY)).read())
  assert written == json.loads(json.dumps(summary))
  assert [e["name"] for e in written["jobs"]] == ["a", "b", "c"]
  for entry, name in zip(written["jobs"], ["a.png", "b.png", "c.jpg"]):
    assert entry["outputs"]["image"] == os.path.join(out, name)
    assert image.load_image(entry["outputs"]["image"]).shape[:2] == (32, 32)
    record = json.loads(open(entry["outputs"]["record"]).read())
    assert record["result"]["iterations"] == entry["iterations"] == 3
    assert record["preset"] == PRESET and record["flags"]["style_layers"] == [
        "relu1_1", "relu2_1"]
  b, c = written["jobs"][1], written["jobs"][2]
  assert b["options"] == {"alpha": 1e-3} and len(b["inputs"]["style"]) == 2
  assert json.loads(open(c["outputs"]["record"]).read())["seed"] == 2
  assert image.load_image(os.path.join(out, jobs_lib.SHEET)).shape[1] >= 2 * 160


def test_a_stopped_batch_runs_only_the_missing_jobs_again(local_run):
  first, mtime, final, out = local_run
  assert first["interrupted"] and batch.exit_code(first) == batch.EXIT_INTERRUPTED
  assert [e["state"] for e in first["jobs"]] == ["done", "pending", "pending"]
  assert [e["state"] for e in final["jobs"]] == ["skipped", "done", "done"]
  assert os.stat(os.path.join(out, "a.json")).st_mtime_ns == mtime  # not rerun
  # Everything done now: a third run runs nothing (and loads no TensorFlow).
  again = batch.run_batch(jobs_lib.read_manifest(os.path.join(out, "..", "jobs.jsonl")),
                          out, COMMON, PRESET, log=print)
  assert [e["state"] for e in again["jobs"]] == ["skipped"] * 3


def run_cli(*args, cwd):
  return subprocess.run([sys.executable, "-m", "nst.cli.batch", *args], cwd=cwd,
                        capture_output=True, text=True, timeout=600, check=False)


def common_flags():
  return [f"--preset={PRESET}", "--image_size=32", "--num_steps=3",
          "--content_layers=relu2_1", "--style_layers=relu1_1,relu2_1"]


def test_a_failing_job_is_recorded_and_the_others_complete(folder, weights_path):
  manifest = write_lines(folder / "some_bad.jsonl", [
      {"content": "missing.png", "style": "s1.png", "output": "lost"},
      {"content": "c2.png", "style": "s2.png", "output": "kept"},
  ])
  result = run_cli(f"--manifest={manifest}", "--output_dir=failing", *common_flags(),
                   cwd=folder)
  assert result.returncode == 1, result.stderr[-2000:]
  assert "Traceback" not in result.stderr
  assert "2/2 jobs done" in result.stdout and "ETA" in result.stdout
  summary = json.loads((folder / "failing" / jobs_lib.SUMMARY).read_text())
  lost, kept = summary["jobs"]
  assert lost["state"] == "failed" and "missing.png" in lost["error"]
  assert "--content_image" in lost["error"]
  assert kept["state"] == "done" and (folder / "failing" / "kept.png").is_file()
  assert summary["counts"]["failed"] == 1 and summary["counts"]["done"] == 1


@pytest.mark.parametrize("lines,message", [
    (None, "--manifest: no such file"),
    (['{"content": "c1.png", "style": '], "bad.jsonl:1: not valid JSON"),
    (['{"content": "c1.png", "style": "s1.png"}',
      '{"content": "c1.png", "style": "s1.png", "alpah": 1}'],
     "bad.jsonl:2: unknown key 'alpah'"),
    (['{"content": "c1.png", "style": "s1.png", "num_steps": "many"}'],
     "bad.jsonl:1: num_steps='many' is not a valid value"),
    (['{"content": "c1.png", "style": "s1.png"}', '{"content": "c1.png", '
      '"style": "s1.png"}'], "bad.jsonl:2: output name 'c1__s1' is also"),
    (['{"content": "c1.png", "style": "s1.png", "resume": true}'],
     "bad.jsonl:1: 'resume' is set for the whole batch"),
])
def test_bad_input_to_nst_batch_is_one_line_and_exit_2(tmp_path, lines, message):
  if lines is not None:
    (tmp_path / "bad.jsonl").write_text("\n".join(lines) + "\n")
  result = run_cli("--manifest=bad.jsonl", "--output_dir=out", cwd=tmp_path)
  assert result.returncode == 2
  assert result.stderr.startswith("nst-batch: error: ") and message in result.stderr
  assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
  assert not (tmp_path / "out").exists()


def test_csv_and_json_lines_give_the_same_typed_jobs(tmp_path):
  (tmp_path / "jobs.csv").write_text(
      "content,style,output,alpha,style_layers,normalize_vgg,num_steps,"
      "style_layer_weights\n"
      'c.jpg,"s1.jpg,s2.jpg",x.jpg,1e-3,"relu1_1,relu2_1",true,7,authors\n'
      "c.jpg,s1.jpg,y,,,,,\n")
  write_lines(tmp_path / "jobs.jsonl", [
      {"content": "c.jpg", "style": ["s1.jpg", "s2.jpg"], "output": "x.jpg",
       "alpha": 1e-3, "style_layers": ["relu1_1", "relu2_1"], "normalize_vgg": True,
       "num_steps": 7, "style_layer_weights": "authors"},
      {"content": "c.jpg", "style": "s1.jpg", "output": "y"}])
  from_csv = jobs_lib.read_manifest(str(tmp_path / "jobs.csv"))
  from_json = jobs_lib.read_manifest(str(tmp_path / "jobs.jsonl"))
  for a, b in zip(from_csv, from_json):
    assert (a.name, a.extension, a.content, a.style, a.options) == (
        b.name, b.extension, b.content, b.style, b.options)
  x, y = from_csv
  assert x.options == {"alpha": 1e-3, "style_layers": ("relu1_1", "relu2_1"),
                       "normalize_vgg": True, "num_steps": 7,
                       "style_layer_weights": "authors"}
  assert x.style == [str(tmp_path / "s1.jpg"), str(tmp_path / "s2.jpg")]
  assert (x.name, x.extension, y.name, y.extension) == ("x", ".jpg", "y", ".png")
  assert y.options == {}  # empty cells: not given


def test_product_and_sweeps_expand_to_every_combination(tmp_path):
  contents = jobs_lib.image_list("a/cat.jpg,b/dog.png", "content_images")
  sweeps = [jobs_lib.parse_sweep("alpha=1e-3,1e-2"),
            jobs_lib.parse_sweep("style_layers=relu1_1;relu1_1,relu2_1")]
  jobs = jobs_lib.product_jobs(contents, [str(tmp_path / "wave.jpg")], sweeps)
  assert len(jobs) == 2 * 1 * 2 * 2
  assert [j.name for j in jobs[:4]] == [
      "cat__wave__alpha-1e-3__style_layers-relu1_1",
      "cat__wave__alpha-1e-3__style_layers-relu1_1+relu2_1",
      "cat__wave__alpha-1e-2__style_layers-relu1_1",
      "cat__wave__alpha-1e-2__style_layers-relu1_1+relu2_1"]
  assert jobs[1].options == {"alpha": 1e-3, "style_layers": ("relu1_1", "relu2_1")}
  assert jobs[4].content == os.path.abspath("b/dog.png")
  assert all(j.style == [str(tmp_path / "wave.jpg")] for j in jobs)
  # Deterministic and filesystem-safe, whatever the inputs are called.
  odd = jobs_lib.product_jobs(["/x/my photo (1).jpg"], ["/y/ä.png"],
                           [jobs_lib.parse_sweep("preset=paper,default")])
  assert [j.name for j in odd] == ["my_photo_1__a__preset-paper",
                                   "my_photo_1__a__preset-default"]
  assert [j.preset for j in odd] == ["paper", "default"] and odd[0].options == {}
  # Folders: their images, sorted.
  for name in ("b.png", "a.jpg", "notes.txt"):
    (tmp_path / name).write_bytes(b"")
  assert jobs_lib.image_list(str(tmp_path), "style_images") == [
      str(tmp_path / "a.jpg"), str(tmp_path / "b.png")]
  with pytest.raises(UserError, match="not a run option"):
    jobs_lib.parse_sweep("alpah=1,2")
  with pytest.raises(UserError, match="is not a valid value"):
    jobs_lib.parse_sweep("num_steps=10,many")
  with pytest.raises(UserError, match="also that of"):
    jobs_lib.product_jobs(["/a/cat.jpg", "/b/cat.png"], ["/s.jpg"])


def test_ray_executor_without_ray_names_the_extra(monkeypatch):
  monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
  with pytest.raises(UserError, match=r'pip install -e "\.\[ray\]"'):
    executors.make_executor("ray")


@pytest.fixture(scope="module")
def ray_instance():
  ray = pytest.importorskip("ray", reason='Ray is not installed (pip install -e '
                            '".[ray]"); the Ray executor is not tested')
  ray.init(num_cpus=2, include_dashboard=False)
  yield ray
  ray.shutdown()


def test_ray_gives_the_local_executor_images_bitwise(folder, local_run, ray_instance):
  out = str(folder / "ray")
  jobs = jobs_lib.read_manifest(str(folder / "jobs.jsonl"))
  summary = batch.run_batch(jobs, out, COMMON, PRESET, executor=executors.RayExecutor(),
                            log=print)
  assert batch.exit_code(summary) == 0 and summary["executor"] == "ray"
  assert [e["state"] for e in summary["jobs"]] == ["done"] * 3
  assert ray_instance.is_initialized()  # the executor leaves an instance it found
  _, _, local, _ = local_run
  for here, there in zip(local["jobs"], summary["jobs"]):
    # Same machine, same TensorFlow, same thread count (each worker's TensorFlow
    # sizes its pool to the machine, as the local process does): same bytes.
    with open(here["outputs"]["image"], "rb") as a, \
        open(there["outputs"]["image"], "rb") as b:
      assert a.read() == b.read(), here["name"]
    np.testing.assert_array_equal(image.load_image(here["outputs"]["image"]),
                                  image.load_image(there["outputs"]["image"]))


def test_a_figure_cell_is_the_run_the_api_makes(tmp_path, folder, weights_path):
  """figures.run_cells runs its cells as a batch's jobs: the same run as
  nst.transfer with the cell's preset and options at the images' own size."""
  import nst  # pylint: disable=g-import-not-at-top
  from nst.runs import figures  # pylint: disable=g-import-not-at-top
  content = image.load_image(str(folder / "c1.png"))
  style = image.load_image(str(folder / "s1.png"))
  options = {k: v for k, v in COMMON.items() if k != "image_size"}
  cell = figures.Cell(name="cell", row=0, col=0, content=content, style=style,
                      options=options)
  out = str(tmp_path / "figure")
  summaries = figures.run_cells([cell], out, weights_path, log=print)
  alone = nst.transfer(content, style, preset="original", image_size=0,
                       vgg_weights=weights_path, **options)
  assert summaries[0]["iterations"] == alone.record["result"]["iterations"] == 3
  assert summaries[0]["losses"] == alone.record["result"]["losses"]
  np.testing.assert_array_equal(image.load_image(os.path.join(out, "cell.png")),
                                alone.image)
  # Done before: kept, not run again.
  again = figures.run_cells([cell], out, weights_path, log=print)
  assert again[0]["seconds"] == summaries[0]["seconds"]


def test_a_batch_on_the_live_page(folder, weights_path):
  """run_batch with a serve.Live: the job table with thumbnails and the batch's
  progress; with the local executor, each job's iterates. Read over HTTP between
  jobs (the on_job hook runs in the batch's thread: no race)."""
  from nst.live import serve  # pylint: disable=g-import-not-at-top
  from test_serve import get_json, request  # pylint: disable=g-import-not-at-top
  out = str(folder / "live")
  jobs = jobs_lib.read_manifest(str(folder / "jobs.jsonl"))
  live = serve.Live()
  url = live.start()
  seen = []

  def look(entry):
    state = get_json(url, "/state.json")
    seen.append((entry["name"], state, get_json(url, "/history.json")))

  try:
    summary = batch.run_batch(jobs, out, COMMON, PRESET, log=print, on_job=look,
                              live=live)
    assert batch.exit_code(summary) == 0
    for k, (name, state, history) in enumerate(seen):
      assert state["batch"]["done"] == k + 1 and state["batch"]["total"] == 3
      assert state["title"] == f"nst-batch [{k + 1}/3] {name}"
      # Iterates come at report_every (default 10) and at the end.
      assert [h["iteration"] for h in history["history"]] == [0, 3]
      rows = state["jobs"]
      assert [r["state"] for r in rows] == ["done"] * (k + 1) + ["pending"] * (2 - k)
      assert all(r["image"] == f"thumbs/{i}.png" for i, r in enumerate(rows[:k + 1]))
      assert all(r["image"] is None for r in rows[k + 1:])
    final = get_json(url, "/state.json")
    assert final["finished"] and final["iteration"] == 3
    for i, entry in enumerate(summary["jobs"]):
      status, _, body = request(url, f"/thumbs/{i}.png")
      thumb = np.asarray(Image.open(io.BytesIO(body))).astype(float)
      written = image.load_image(entry["outputs"]["image"])
      assert status == 200 and max(thumb.shape[:2]) <= serve.THUMBNAIL
      assert abs(thumb.mean() - written.mean()) < 3  # the job's own image, smaller
  finally:
    live.close()


def test_nst_batch_serves_its_page_until_the_linger_ends(folder, weights_path):
  from test_serve import HANG_GUARD, get_json, request  # pylint: disable=g-import-not-at-top
  refused = run_cli("--manifest=jobs.jsonl", "--output_dir=refused", "--serve_linger=5",
                    cwd=folder)
  assert refused.returncode == 2 and "add --serve" in refused.stderr
  assert not (folder / "refused").exists()
  proc = subprocess.Popen(  # pylint: disable=consider-using-with
      [sys.executable, "-m", "nst.cli.batch", "--manifest=jobs.jsonl",
       "--output_dir=served", *common_flags(), "--serve", "--serve_linger=600"],
      cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
      preexec_fn=with_ctrl_c)
  guard = threading.Timer(HANG_GUARD, proc.kill)
  guard.start()
  try:
    lines = []

    def read_until(pattern):
      for line in proc.stdout:
        lines.append(line)
        if re.search(pattern, line):
          return re.search(pattern, line)
      raise AssertionError("".join(lines))
    url = read_until(r"watch the run at (\S+)").group(1)
    read_until(r"serving the final state at")  # all jobs ended; lingering
    state = get_json(url, "/state.json")
    assert state["finished"] and state["batch"]["done"] == 3
    assert [r["state"] for r in state["jobs"]] == ["done"] * 3
    assert all(request(url, "/" + r["image"])[0] == 200 for r in state["jobs"])
    proc.send_signal(signal.SIGINT)  # ends the linger
    assert proc.wait(timeout=HANG_GUARD) == 0, "".join(lines) + proc.stdout.read()
  finally:
    guard.cancel()
    if proc.poll() is None:
      proc.kill()
    proc.stdout.close()
  with pytest.raises(OSError):
    request(url, "/state.json")


def test_batch_groups_keep_jobs_of_one_key_together_up_to_the_size():
  keys = {0: "a", 1: "b", 2: "a", 3: None, 4: "a", 5: None}
  assert batch.batch_groups([0, 1, 2, 3, 4, 5], keys, 2) == [[0, 2], [1], [3], [4],
                                                             [5]]
  assert batch.batch_groups([0, 1, 2, 3, 4, 5], keys, 8) == [[0, 2, 4], [1], [3], [5]]
  assert batch.batch_groups([0, 1, 2], keys, 1) == [[0], [1], [2]]


def test_a_batch_of_problems_gives_each_member_its_own_run(folder, local_run):
  """--batch_size: jobs a and c (same settings, other images and seed) run as one
  batch, b (another alpha) alone; each gets the run it got alone. Tolerance: the
  same iterations, total loss within 1e-4 relative and images within 1 grey level
  (a batched convolution may round differently; on the machines seen, bitwise)."""
  out = str(folder / "batched")
  jobs = jobs_lib.read_manifest(str(folder / "jobs.jsonl"))
  lines = []
  summary = batch.run_batch(jobs, out, COMMON, PRESET, log=lines.append, batch_size=4)
  assert batch.exit_code(summary) == 0, summary
  assert "3 to run in 2 batches" in lines[0]
  # With the local executor the jobs' own lines go to the batch's log too.
  assert "nst-batch: a, c: one batch of 2" in lines
  _, _, alone, _ = local_run
  for together, by_itself in zip(summary["jobs"], alone["jobs"]):
    with open(together["outputs"]["record"], encoding="utf-8") as f:
      mine = json.load(f)["result"]
    with open(by_itself["outputs"]["record"], encoding="utf-8") as f:
      theirs = json.load(f)["result"]
    assert mine["iterations"] == theirs["iterations"] == COMMON["num_steps"]
    assert mine["losses"]["total"] == pytest.approx(theirs["losses"]["total"],
                                                    rel=1e-4)
    difference = np.abs(image.load_image(together["outputs"]["image"])
                        - image.load_image(by_itself["outputs"]["image"]))
    print(together["name"], "largest difference from the run alone:", difference.max())
    assert difference.max() <= 1


def test_an_interrupted_batch_leaves_each_member_a_checkpoint_that_resumes_alone(
    tmp_path, folder, weights_path):
  from nst.runs import plan as run  # pylint: disable=g-import-not-at-top
  options = dict(COMMON, num_steps=20, report_every=5)
  members = [("a", folder / "c1.png", folder / "s1.png", 0),
             ("b", folder / "c2.png", folder / "s2.png", 1)]
  prepared = [run.prepare(str(c), str(s), str(tmp_path / f"{name}.png"),
                          preset=PRESET, seed=seed, **options)
              for name, c, s, seed in members]

  def stop(it):  # Ctrl-C once the second member has taken step 10 (no race)
    if it.iteration == 10:
      raise KeyboardInterrupt
  results = run.execute_batch(prepared, [None, stop])
  assert [r.stopped for r in results] == ["interrupted"] * 2
  assert [r.last.iteration for r in results] == [10, 10]
  for name, content, style, seed in members:
    assert (tmp_path / f"{name}.ckpt.npz").is_file()
    resumed = run.transfer(str(content), str(style), str(tmp_path / f"{name}.png"),
                           preset=PRESET, seed=seed, resume=True, **options)
    alone = run.transfer(str(content), str(style), preset=PRESET, seed=seed, **options)
    assert resumed.record["result"]["iterations"] == 20 and resumed.stopped == "num_steps"
    assert [h["iteration"] for h in resumed.record["history"]] == [0, 5, 10, 15, 20]
    assert resumed.record["result"]["losses"]["total"] == pytest.approx(
        alone.record["result"]["losses"]["total"], rel=1e-4)
    assert np.abs(resumed.image.astype(int) - alone.image).max() <= 1
