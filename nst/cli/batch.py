"""nst-batch: many runs from a manifest or from folders and sweeps (the library is
nst.runs.batch; this module holds only the command line)."""

import os
import sys

from absl import flags

from nst import config
from nst import interrupts
from nst import phases
from nst.cli import common
from nst.cli import serve_flags
from nst.errors import UserError
from nst.files import ensure_writable_dir
from nst.runs.batch import check_batch_files, exit_code, interrupt_message, run_batch
from nst.runs.executors import make_executor
from nst.runs.jobs import (BATCH_ONLY, SHEET, SUMMARY, image_list, kind, parse_sweep,
                           parse_value, product_jobs, read_manifest)


def _define_flags():
  """nst-batch's flags, defined only when it is the program (so that this module can
  be imported, e.g. by the tests, beside other absl programs)."""
  flags.DEFINE_string("manifest", None, "Jobs, one a line: a .jsonl (JSON Lines) or "
                      ".csv file (see README, Batches and sweeps).")
  flags.DEFINE_string("content_images", None, "Folder or comma list of photographs: "
                      "with --style_images, every combination is a job.")
  flags.DEFINE_string("style_images", None, "Folder or comma list of artworks.")
  flags.DEFINE_multi_string(
      "sweep", [], "name=v1,v2: one job per value, every combination with the other "
      "sweeps and the images (values of list options separated by ';').")
  flags.DEFINE_string("output_dir", None, "Where every job's image and record, "
                      f"{SUMMARY} and {SHEET} go.")
  flags.DEFINE_enum("executor", "local", ["local", "ray"],
                    "local: one job after another in this process; ray: one Ray task "
                    "per job (pip install -e \".[ray]\").")
  flags.DEFINE_string("ray_address", None, "With --executor=ray: a running cluster "
                      "(auto, or ray://host:10001). Default: start a local instance.")
  flags.DEFINE_integer("ray_num_cpus", None, "CPUs of the local Ray instance (jobs "
                       "at once on a CPU machine). Default: all.")
  flags.DEFINE_bool("overwrite", False, "Run every job again, even those done before.")
  flags.DEFINE_integer("batch_size", 1, "Jobs optimised together as one batch on one "
                       "device when they differ only in their images, init and seed "
                       "(worth it on a GPU; see README).")
  serve_flags.define(flags)
  flags.DEFINE_enum("preset", None, list(config.PRESETS),
                    f"Preset of every job (a manifest line's own wins). Default: "
                    f"{config.DEFAULT_PRESET}.")
  for name in config.OPTIONS:
    if name in BATCH_ONLY:
      continue
    help_text = (f"As nst --{name}, for every job (a manifest line's value or a "
                 "--sweep wins).")
    if kind(name) == "bool":
      flags.DEFINE_bool(name, None, help_text)
    else:
      flags.DEFINE_string(name, None, help_text)
  return flags


def _jobs_from_flags(flags):
  values = flags.FLAGS
  if values.manifest and (values.content_images or values.style_images or
                          values.sweep):
    raise UserError("--manifest and --content_images/--style_images/--sweep are two "
                    "ways to give the jobs; give one", option="manifest")
  if values.manifest:
    return read_manifest(values.manifest)
  if not (values.content_images and values.style_images):
    raise UserError("no jobs: give --manifest=jobs.jsonl, or --content_images and "
                    "--style_images (folders or comma lists)", option="manifest")
  sweeps = [parse_sweep(s) for s in values.sweep]
  names = [name for name, _ in sweeps]
  if len(set(names)) != len(names):
    raise UserError("--sweep names an option twice; give all its values in one "
                    "--sweep", option="sweep")
  return product_jobs(image_list(values.content_images, "content_images"),
                      image_list(values.style_images, "style_images"), sweeps)


def _common_options(flags):
  common = {}
  for name in config.OPTIONS:
    if name in BATCH_ONLY or not flags.FLAGS[name].present:
      continue
    value = flags.FLAGS[name].value
    common[name] = value if kind(name) == "bool" else parse_value(name, value,
                                                                  f"--{name}")
  return common


def main(flags):
  values = flags.FLAGS
  try:
    phases.enter("inputs")
    if not values.output_dir:
      raise UserError("--output_dir: give the folder for the results (it is "
                      "created; an existing one is resumed)", option="output_dir")
    jobs = _jobs_from_flags(flags)
    common = _common_options(flags)
    config.resolve_options(values.preset, common)  # an unknown option, now
    if values.batch_size < 1:
      raise UserError(f"--batch_size must be >= 1, got {values.batch_size}",
                      option="batch_size")
    serve_flags.check(values)
    check_batch_files(jobs, values.output_dir, values.overwrite, values.manifest,
                      common)
    ensure_writable_dir(values.output_dir, "output_dir")
    live = serve_flags.from_flags(values, "nst-batch", log=_log)
    executor = make_executor(values.executor, values.ray_address, values.ray_num_cpus)
  except UserError as e:
    _fail(str(e))
  except interrupts.INTERRUPTS as e:
    print(f"nst-batch: interrupted while {phases.words('inputs')}; no job was run",
          file=sys.stderr)
    sys.exit(interrupts.exit_code(e))
  try:
    summary = run_batch(jobs, values.output_dir, common, values.preset, executor,
                        values.overwrite, log=_log, live=live,
                        batch_size=values.batch_size, manifest=values.manifest)
  finally:
    executor.close()
  if live is not None:
    live.linger(values.serve_linger, log=_log)
  counts = summary["counts"]
  _log(f"nst-batch: {counts['done']} done, {counts['skipped']} done before, "
       f"{counts['failed']} failed; summary "
       f"{os.path.abspath(os.path.join(values.output_dir, SUMMARY))}")
  if summary["interrupted"]:
    print(interrupt_message(summary), file=sys.stderr)
  sys.exit(exit_code(summary))


def _log(message):
  print(message, flush=True)


def _fail(message):
  common.fail("nst-batch", message)


def run_main():
  flags = _define_flags()
  common.run("nst-batch", lambda: main(flags), __name__,
             serve_flags.__name__)


if __name__ == "__main__":
  run_main()
