"""`nst-batch`: many runs from a manifest or a product of images and option sweeps,
resumable, one after another in this process or as tasks on a Ray cluster.

Every job goes through the one run path (run.prepare / run.done_before /
run.execute); this module only lists the jobs, hands them to an executor and keeps
account. A job whose image and record exist with the same settings is skipped, so a
batch that was stopped resumes; a job that fails (a bad file, a non-finite loss) is
recorded with its error and the others go on.

Exit codes: 0 all jobs done (or done before), 1 some failed (see summary.json),
2 bad input to nst-batch itself (nothing run: a malformed manifest, an output that
is an input, a file in --output_dir that nst did not write), 130 / 143 interrupted by
SIGINT / SIGTERM (the running job keeps its partial image and checkpoint, which the
next run of the batch continues).
"""

import functools
import json
import math
import os
import time
import traceback

from nst import config
from nst import image as image_lib
from nst import interrupts
from nst import phases
from nst import sheet as sheet_lib
from nst.control import scale_combination as scale
from nst.control import spatial
from nst.errors import UserError, flag
from nst.files import ensure_writable_dir
from nst.files import write_json
from nst.runs import plan as run
from nst.runs import records
from nst.runs.executors import LocalExecutor
from nst.runs.jobs import SHEET, SUMMARY, _items

EXIT_SOME_FAILED = 1
EXIT_INTERRUPTED = interrupts.EXIT_SIGINT  # by SIGINT; by SIGTERM: EXIT_SIGTERM
SIGNAL_NAMES = {interrupts.EXIT_SIGINT: "SIGINT", interrupts.EXIT_SIGTERM: "SIGTERM"}


# --- One job ---------------------------------------------------------------------


def prepare_job(job, output_dir, common, preset, overwrite, resume=False):
  """run.prepare for `job`: the batch's options under the job's own."""
  # A stale result of nst's (other settings, or partial) is replaced, as the figure
  # grids do (an up-to-date one was skipped before this is called); any other file
  # of the job's output name only with --overwrite.
  output = job.output(output_dir)
  return run.prepare(job.content, job.style, output, preset=job.preset or preset,
                     **dict(common, **job.options,
                            overwrite=overwrite or nst_wrote(output), resume=resume))


def nst_wrote(output):
  """Whether the files of `output` (image, record, plot) are absent or nst's own: a
  record beside the image, an nst record, that names it."""
  out = records.paths(output)
  if not any(os.path.exists(out[kind]) for kind in ("image", "record", "plot")):
    return True
  try:
    with open(out["record"], encoding="utf-8") as f:
      record = json.load(f)
    image = record["result"]["image"]
    return "nst" in record and os.path.basename(image) == os.path.basename(output)
  except (OSError, ValueError, KeyError, TypeError):
    return False


def _nst_summary(path):
  """Whether `path` is absent or a summary.json that nst-batch wrote."""
  if not os.path.exists(path):
    return True
  try:
    with open(path, encoding="utf-8") as f:
      summary = json.load(f)
    return isinstance(summary, dict) and {"jobs", "output_dir", "counts"} <= set(summary)
  except (OSError, ValueError):
    return False


def _option_inputs(options):
  """[(option, path)] of the files a job's options name (masks, init, fine style)."""
  found = []
  for name in ("content_masks", "style_masks"):
    specs = options.get(name) or ()
    if isinstance(specs, (str, os.PathLike)):
      specs = _items(os.fspath(specs))
    found += [(name, spatial.parse(spec)[0]) for spec in specs
              if isinstance(spec, (str, os.PathLike)) and spec != spatial.WHOLE]
  init = options.get("init")
  if isinstance(init, str) and init not in config.INIT_CHOICES:
    found.append(("init", init))
  if isinstance(options.get("fine_style_image"), str):
    found.append(("fine_style_image", options["fine_style_image"]))
  return found


def _inode(path):
  """A file's identity (what os.path.samefile compares): links resolve to it."""
  info = os.stat(path)
  return info.st_dev, info.st_ino


def check_batch_files(jobs, output_dir, overwrite=False, manifest=None, common=None):
  """Before anything runs: no job (nor the batch's summary and sheet) writes onto an
  input of any job or the manifest, whatever --overwrite says; and, without it, no
  file in `output_dir` that nst did not write is replaced. UserError naming both."""
  inputs = [(flag("manifest"), manifest)] if manifest else []
  for job in jobs:
    inputs += [(f"{job.source}: content", job.content)]
    inputs += [(f"{job.source}: style", s) for s in job.style]
    inputs += [(f"{job.source}: {name}", p)
               for name, p in _option_inputs(dict(common or {}, **job.options))]
  inputs = [(what, p) for what, p in inputs if isinstance(p, str) and os.path.exists(p)]
  written = [(f"{job.source}: output", p)
             for job in jobs for p in records.paths(job.output(output_dir)).values()]
  written += [("the batch's summary", os.path.join(output_dir, SUMMARY)),
              ("the batch's sheet", os.path.join(output_dir, SHEET))]
  by_inode = {}  # one stat a file, not one a pair: batches may have many jobs
  for what, path in inputs:
    by_inode.setdefault(_inode(path), (what, path))
  for what, path in written:
    if os.path.exists(path) and _inode(path) in by_inode:
      source_what, source = by_inode[_inode(path)]
      raise UserError(f"{what} {path!r} would replace {source_what} {source!r}; "
                      f"nst-batch never writes onto its inputs, whatever "
                      f"{flag('overwrite')} says; give another output name or "
                      f"{flag('output_dir')}", option="output_dir")
  if overwrite:
    return
  for job in jobs:
    if not nst_wrote(job.output(output_dir)):
      raise UserError(f"{job.source}: {job.output(output_dir)!r} exists and nst did "
                      "not write it (no record of it beside it); pass "
                      f"{flag('overwrite')} to replace it, or give the job another "
                      "output name", option="overwrite")
  summary = os.path.join(output_dir, SUMMARY)
  if not _nst_summary(summary) or (os.path.exists(os.path.join(output_dir, SHEET))
                                   and not os.path.exists(summary)):
    raise UserError(f"{flag('output_dir')}: {output_dir!r} holds a {SUMMARY} or "
                    f"{SHEET} that nst-batch did not write; pass {flag('overwrite')} "
                    f"to replace them, or choose another {flag('output_dir')}",
                    option="output_dir")


def run_job(job, output_dir, common, preset, overwrite=False, log=print, live=None,
            title=None):
  """Run one job through the run path; return its summary entry (never raises for a
  failing job: its state is 'failed' with the error). `live` (a serve.Live, in this
  process only) is shown the job under `title` and receives its iterates."""
  start = time.perf_counter()
  entry = job_entry(job, output_dir)
  try:
    prepared = prepare_job(job, output_dir, common, preset, overwrite)
    record = None if overwrite else run.done_before(prepared)
    if record is None:
      # A checkpoint is what Ctrl-C left of this job: continue it, not start again.
      if not overwrite and run.checkpoint_left(prepared):
        log(f"nst-batch: {job.name}: continuing from its checkpoint")
        prepared = prepare_job(job, output_dir, common, preset, overwrite, resume=True)
      callback = None
      if live is not None:
        callback = live.watch(prepared, title)  # levels of a --pyramid job too
      result = run.execute(prepared, callback=callback, log=log)
      _account(entry, result)
      if result.interrupted:  # the job stopped, or finished as the signal came
        entry["wall_seconds"] = round(time.perf_counter() - start, 3)
        raise JobInterrupted([entry], result.exit_code)
    else:
      entry["state"] = "skipped"
      _account(entry, record=record)
  except JobInterrupted:
    raise
  except (UserError, run.RunError) as e:
    entry.update(state="failed", error=str(e))
    if run.is_interruption(e):
      # Interrupted before a step of the job's own (e.g. in the synthesis of its
      # combined style image): stop the batch, as anywhere else.
      entry["state"] = "interrupted"
      entry["wall_seconds"] = round(time.perf_counter() - start, 3)
      raise JobInterrupted([entry], e.exit_code) from None
  except interrupts.INTERRUPTS as e:  # in its checks, before run.execute
    entry.update(state="interrupted", error="interrupted")
    entry["wall_seconds"] = round(time.perf_counter() - start, 3)
    raise JobInterrupted([entry], interrupts.exit_code(e)) from None
  except Exception as e:  # pylint: disable=broad-except
    # Anything else (out of memory, a bug) fails this job, not the batch.
    traceback.print_exc()
    entry.update(state="failed", error=f"{type(e).__name__}: {e}")
  entry["wall_seconds"] = round(time.perf_counter() - start, 3)
  return entry


def run_jobs(jobs, output_dir, common, preset, overwrite=False, log=print, live=None,
             title=None):
  """Run `jobs` (a group of batch_group) as one batch on this device (run.execute_batch);
  one job runs as run_job does. Returns their summary entries; raises JobInterrupted
  with all of them on Ctrl-C (each interrupted job keeps its partial image and a
  checkpoint, which the next run of the batch continues alone)."""
  if len(jobs) == 1:
    return [run_job(jobs[0], output_dir, common, preset, overwrite, log, live, title)]
  start = time.perf_counter()
  entries = [job_entry(job, output_dir) for job in jobs]
  try:
    prepared = [prepare_job(job, output_dir, common, preset, overwrite) for job in jobs]
    if live is not None:  # the page follows the first job; the table shows the rest
      live.watch(prepared[0], title)
    log(f"nst-batch: {', '.join(job.name for job in jobs)}: one batch of {len(jobs)}")
    results = run.execute_batch(prepared, [live and live.update], log=log)
  except interrupts.INTERRUPTS as e:  # in the jobs' checks
    results = [run.interrupted(e)] * len(jobs)
  except Exception as e:  # pylint: disable=broad-except
    # Not one job's fault (out of memory, a bug): every job of the batch failed.
    traceback.print_exc()
    results = [e] * len(jobs)
  code = 0
  for entry, result in zip(entries, results):
    if run.is_interruption(result):  # before the first step: nothing written
      entry.update(state="interrupted", error=str(result))
      code = result.exit_code
    elif isinstance(result, run.RunError):
      entry.update(state="failed", error=str(result))
    elif isinstance(result, Exception):
      entry.update(state="failed", error=f"{type(result).__name__}: {result}")
    else:
      _account(entry, result)
      code = code or (result.exit_code if result.interrupted else 0)
    entry["wall_seconds"] = round(time.perf_counter() - start, 3)
  if code:
    raise JobInterrupted(entries, code)
  return entries


def _account(entry, result=None, record=None):
  """Fill a job's entry from its run.Result (or, done before, its record)."""
  if result is not None:
    record = result.record
    if result.stopped == "interrupted":
      entry.update(state="interrupted", error="interrupted; a checkpoint was "
                   "saved and the next run of the batch continues it")
    elif result.stopped == "non_finite":
      entry.update(state="failed", error=(
          f"the loss or its gradient became non-finite at step "
          f"{result.last.iteration + 1}; kept the last finite image (partial)"))
    else:
      entry["state"] = "done"
  entry.update(iterations=record["result"]["iterations"],
               seconds=record["result"]["seconds"],
               stopped=record["result"]["stopped"])


class JobInterrupted(KeyboardInterrupt):
  """SIGINT or SIGTERM during a job (or a batch of jobs): carries their entries so
  the batch can record them, and the signal's exit code (130 or 143)."""

  def __init__(self, entries, exit_code=interrupts.EXIT_SIGINT):
    super().__init__()
    self.entries = entries
    self.exit_code = exit_code


def job_entry(job, output_dir):
  """A job's line in summary.json, before it has run."""
  out = records.paths(job.output(output_dir))
  return dict(name=job.name, source=job.source,
              inputs={"content": _input(job.content),
                      "style": [_input(s) for s in job.style]},
              preset=job.preset, options=_json_options(job.options), state="pending",
              error=None, iterations=None, seconds=None, stopped=None,
              wall_seconds=None,
              outputs={"image": os.path.abspath(out["image"]),
                       "record": os.path.abspath(out["record"])})


def _input(item):
  return item if isinstance(item, str) else "<array>"


def _json_options(options):
  """Options as JSON values (tuples as lists, paths as text, arrays as '<array>')."""
  def plain(value):
    if isinstance(value, tuple):
      return list(value)
    if isinstance(value, os.PathLike):
      return os.fspath(value)
    return value if value is None or isinstance(value, (str, int, float, list)) \
        else "<array>"
  return {k: plain(v) for k, v in options.items()}


# --- The batch ---------------------------------------------------------------------


def run_batch(jobs, output_dir, common=None, preset=None, executor=None,
              overwrite=False, log=print, on_job=None, sheet=True, live=None,
              batch_size=1, manifest=None):
  """Run `jobs` (skipping those done before); write summary.json and (if `sheet`)
  sheet.png into `output_dir`; return the summary dict. `common`: options of every
  job (a job's own win). `on_job(entry)` is called after each job (a
  KeyboardInterrupt raised there stops the batch as Ctrl-C does). SIGINT (or SIGTERM
  under interrupts.install), in any phase, stops the batch with the summary written:
  summary["interrupted"] is then True and summary["signal"] says which; the running
  job keeps its partial image and checkpoint. `log` gets
  the batch's lines and, with the local executor, the jobs' own (Ray's workers print
  theirs). `live` (a
  serve.Live) shows the table of jobs with thumbnails and, with the local executor,
  the running job's iterates. `batch_size` > 1: jobs that differ only in their
  images, init and seed are optimised up to that many at a time as one batch on one
  device (run.execute_batch; each executor task runs one such group). `manifest`:
  the file the jobs came from, never written over (check_batch_files)."""
  common = dict(common or {})
  if not isinstance(batch_size, int) or batch_size < 1:
    raise UserError(f"{flag('batch_size')} must be a whole number >= 1, got "
                    f"{batch_size!r}", option="batch_size")
  executor = executor or LocalExecutor()  # the caller closes an executor it gave
  check_batch_files(jobs, output_dir, overwrite, manifest, common)
  ensure_writable_dir(output_dir, "output_dir")
  start = time.perf_counter()
  entries = [job_entry(job, output_dir) for job in jobs]
  summary = dict(output_dir=os.path.abspath(output_dir), executor=executor.name,
                 preset=preset, common_options=_json_options(common), jobs=entries,
                 batch_size=batch_size, interrupted=False, signal=None)
  try:
    _run_all(jobs, entries, summary, output_dir, common, preset, executor, overwrite,
             log, on_job, live, batch_size, start)
  except interrupts.INTERRUPTS as e:
    if isinstance(e, JobInterrupted):
      names = [job.name for job in jobs]
      for entry in e.entries:
        entries[names.index(entry["name"])] = entry
    _left_checkpoints(entries)
    summary.update(interrupted=True, signal=SIGNAL_NAMES[interrupts.exit_code(e)])
  finally:
    if live is not None:
      live.finish("interrupted" if summary["interrupted"] else None)
  with interrupts.held():  # already stopping, or done: a signal now waits for these
    _write_summary(summary, output_dir, start)
    if sheet and any(e["state"] in ("done", "skipped") for e in entries):
      write_sheet(entries, output_dir, summary)
  return summary


def _has_checkpoint(entry):
  """Whether the job left a checkpoint: its own, or its combined style image's."""
  image = entry["outputs"]["image"]
  return any(os.path.isfile(records.paths(path)["checkpoint"])
             for path in (image, scale.style_output(image)))


def _left_checkpoints(entries):
  """Jobs still pending that left a checkpoint (one a Ray task saved as it was
  cancelled) are interrupted: the next run continues them."""
  for entry in entries:
    if entry["state"] == "pending" and _has_checkpoint(entry):
      entry.update(state="interrupted", error="interrupted; a checkpoint was saved "
                   "and the next run of the batch continues it")


def _run_all(jobs, entries, summary, output_dir, common, preset, executor, overwrite,
             log, on_job, live, batch_size, start):
  """run_batch's work: every job checked, then those to run, on `executor`."""
  phases.enter("inputs")
  todo, keys = _check_up_front(jobs, entries, output_dir, common, preset, overwrite,
                               log)
  groups = batch_groups(todo, keys, batch_size)
  total = len(jobs)
  finished = total - len(todo)
  log(f"nst-batch: {total} jobs: {len(todo)} to run"
      + (f" in {len(groups)} batches" if len(groups) < len(todo) else "")
      + f", {sum(e['state'] == 'skipped' for e in entries)} done before, "
      f"{sum(e['state'] == 'failed' for e in entries)} failed their checks; "
      f"executor {executor.name}")
  _write_summary(summary, output_dir, start)
  board = _Board(live, entries)
  names = [job.name for job in jobs]

  def run_shown(group, *arguments):
    running = [names.index(job.name) for job in group]
    board.show(running=running, done=finished, start=start, ran=ran, to_run=len(todo))
    return run_jobs(group, *arguments, log=log, live=live,
                    title=f"nst-batch [{finished + 1}/{total}] {group[0].name}")
  # Iterates reach the page, and the jobs' own lines `log`, only from this process
  # (Ray's workers print theirs; a Ray task must be a plain function).
  local = executor.name == "local"
  function = (run_shown if live is not None and local else
              functools.partial(run_jobs, log=log) if local else run_jobs)
  board.show(done=finished, start=start, ran=0, to_run=len(todo))
  arguments = [([jobs[i] for i in group], output_dir, common, preset, overwrite)
               for group in groups]
  ran = 0
  for k, ended in executor.map(function, arguments):
    if isinstance(ended, BaseException):  # lost by the executor
      ended = [dict(entries[i], state="failed",
                    error=f"{type(ended).__name__}: {ended}") for i in groups[k]]
    for index, entry in zip(groups[k], ended):
      entries[index] = entry
      finished, ran = finished + 1, ran + 1
      log(_progress(entry, finished, total, ran, len(todo), start))
      _write_summary(summary, output_dir, start)
      board.show(ended=index, done=finished, start=start, ran=ran, to_run=len(todo))
      if on_job is not None:
        on_job(entry)


def batch_groups(todo, keys, batch_size):
  """The jobs to run (indices) in groups of at most `batch_size` with one batch key
  (run.batch_key), in the order of their first job; a job whose key is None alone."""
  groups, open_groups = [], {}
  for index in todo:
    key = keys.get(index)
    group = open_groups.get(key) if key is not None else None
    if group is None or len(group) >= batch_size:
      group = [index]
      groups.append(group)
      if key is not None:
        open_groups[key] = group
    else:
      group.append(index)
  return groups


class _Board:
  """The batch as --serve's page shows it: a row a job (state, iterations, seconds, a
  thumbnail of its image once it has one) and the batch's progress with ETA."""

  def __init__(self, live, entries):
    self.live, self.entries, self.thumbs = live, entries, {}
    if live is not None:
      for index, entry in enumerate(entries):
        if entry["state"] == "skipped":
          self._thumbnail(index)

  def show(self, done, start, ran, to_run, running=(), ended=None):
    if self.live is None:
      return
    if ended is not None:
      self._thumbnail(ended)
    rows = [dict(job=e["name"], state="running" if i in running else e["state"],
                 iterations=e["iterations"], seconds=e["seconds"],
                 image=self.thumbs.get(i), error=e["error"])
            for i, e in enumerate(self.entries)]
    eta = (time.perf_counter() - start) / ran * (to_run - ran) if ran else None
    self.live.set_jobs(rows, done=done, eta=eta)

  def _thumbnail(self, index):
    """From the job's image file (a result of this batch): done, done before, or the
    partial image a failed run kept."""
    entry = self.entries[index]
    if entry["state"] not in ("done", "skipped") and entry["stopped"] != "non_finite":
      return  # an image there would be an older run's
    path = entry["outputs"]["image"]
    try:
      self.thumbs[index] = self.live.set_thumbnail(index, image_lib.load_image(path))
    except (OSError, UserError, ValueError):
      pass  # no image (failed its checks): the row says why


def _check_up_front(jobs, entries, output_dir, common, preset, overwrite, log):
  """Check every job's inputs (run.prepare: files, values, sizes) before any run and
  mark those done before; return the indices of the jobs to run and their batch keys
  (run.batch_key; None for a job that continues its checkpoint, which runs alone)."""
  todo, keys = [], {}
  for i, job in enumerate(jobs):
    try:
      prepared = prepare_job(job, output_dir, common, preset, overwrite)
    except UserError as e:
      entries[i].update(state="failed", error=str(e))
      log(f"nst-batch: {job.name} ({job.source}): failed its checks: {e}")
      continue
    record = None if overwrite else run.done_before(prepared)
    if record is not None:
      entries[i].update(state="skipped", iterations=record["result"]["iterations"],
                        seconds=record["result"]["seconds"],
                        stopped=record["result"]["stopped"])
    else:
      todo.append(i)
      resumes = not overwrite and run.checkpoint_left(prepared)
      keys[i] = None if resumes else run.batch_key(prepared)
  return todo, keys


def _progress(entry, finished, total, ran, to_run, start):
  elapsed = time.perf_counter() - start
  # The jobs still to run at the rate so far (jobs run at once included).
  eta = elapsed / ran * (to_run - ran)
  what = entry["state"]
  if entry["state"] in ("done", "skipped"):
    what += f", {entry['iterations']} iterations in {entry['seconds']:.1f} s"
  elif entry["error"]:
    what += f": {entry['error']}"
  return (f"nst-batch: [{finished}/{total}] {entry['name']}: {what}; "
          f"{finished}/{total} jobs done, elapsed {duration(elapsed)}, "
          f"ETA {duration(eta)}")


def duration(seconds):
  seconds = int(round(seconds))
  return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _write_summary(summary, output_dir, start):
  entries = summary["jobs"]
  summary["counts"] = {state: sum(e["state"] == state for e in entries)
                       for state in ("done", "skipped", "failed", "interrupted",
                                     "pending")}
  summary["wall_seconds"] = round(time.perf_counter() - start, 3)
  write_json(os.path.join(output_dir, SUMMARY), summary)


def write_sheet(entries, output_dir, summary=None, max_caption=28):
  """A contact sheet of every result, in job order, failed jobs as empty cells."""
  columns = max(1, math.ceil(math.sqrt(len(entries))))
  grid, captions = [], []
  for i, entry in enumerate(entries):
    if i % columns == 0:
      grid.append([None] * columns)
      captions.append([""] * columns)
    image = None
    if entry["state"] in ("done", "skipped") and os.path.isfile(
        entry["outputs"]["image"]):
      image = image_lib.load_image(entry["outputs"]["image"])
    grid[-1][i % columns] = image
    caption = _shorten(entry["name"], max_caption)
    captions[-1][i % columns] = caption if image is not None else f"{caption} (failed)"
  if all(im is None for row in grid for im in row):
    return None
  counts = (summary or {}).get("counts", {})
  title = (f"nst-batch: {counts.get('done', 0)} done, {counts.get('skipped', 0)} "
           f"done before, {counts.get('failed', 0)} failed") if counts else None
  sheet = sheet_lib.contact_sheet(grid, captions=captions, title=title)
  return image_lib.save_image(os.path.join(output_dir, SHEET), sheet)


def _shorten(text, limit):
  if len(text) <= limit:
    return text
  half = (limit - 1) // 2
  return text[:half] + "~" + text[-(limit - 1 - half):]


def exit_code(summary):
  if summary["interrupted"]:
    return (interrupts.EXIT_SIGTERM if summary.get("signal") == "SIGTERM"
            else interrupts.EXIT_SIGINT)
  failed = any(e["state"] == "failed" for e in summary["jobs"])
  return EXIT_SOME_FAILED if failed else 0


def interrupt_message(summary, program="nst-batch"):
  """The one line that says what an interrupted batch kept."""
  jobs = summary["jobs"]
  done = sum(e["state"] in ("done", "skipped") for e in jobs)
  kept = [e["name"] for e in jobs
          if e["state"] == "interrupted" and _has_checkpoint(e)]
  return (f"{program}: interrupted ({summary['signal']}) with {done}/{len(jobs)} "
          "jobs done" + (f"; partial image and checkpoint kept: {', '.join(kept)}"
                         if kept else "")
          + "; run the same command again to continue")
