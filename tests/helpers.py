"""Small helpers shared by the tests."""

import os
import re
import signal
import subprocess
import sys

import skimage.data

from nst import image


def photograph(size):
  """scikit-image's astronaut photograph (public domain), size x size, RGB 0-255."""
  return image.resize(image.to_rgb(skimage.data.astronaut()), (size, size))


psnr = image.psnr


def nst(*args, cwd=None):
  """The `nst` command (as `python -m nst`), its output captured."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  return subprocess.run([sys.executable, "-m", "nst", *args], capture_output=True,
                        text=True, cwd=cwd, env=env, timeout=600, check=False)


def assert_refused(result, message, existing):
  """`nst` refused in one line matching `message` (exit 2, no traceback) and left
  the earlier result `existing` (a file reading "an earlier result") alone."""
  assert result.returncode == 2, (result.stdout, result.stderr)
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("nst: error: "), result.stderr
  assert re.search(message, lines[0]), lines[0]
  assert "Traceback" not in result.stderr
  assert existing.read_bytes() == b"an earlier result"


def with_ctrl_c():
  """preexec_fn for a child that a test interrupts with SIGINT: Ctrl-C's default
  action restored. A shell without job control starts background commands with
  SIGINT ignored, children inherit that, and Python then never raises
  KeyboardInterrupt, so the test would wait forever."""
  signal.signal(signal.SIGINT, signal.SIG_DFL)


SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts")


def script(name, *args):
  """A script of scripts/ (e.g. "figure3.py") run with `args`, output captured."""
  return subprocess.run([sys.executable, os.path.join(SCRIPTS, name), *args],
                        capture_output=True, text=True, timeout=900, check=False)


PAUSE_ENTRY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pause_entry.py")


def paused_nst(spec, *args):
  """The argv of `nst ARGS` under tests/pause_entry.py with SPEC (a phase to pause
  in, at_step=[L:]N to wait for a signal after that step, or wait_at=[L:]N,... to
  read a line from stdin after each of those steps)."""
  return [sys.executable, PAUSE_ENTRY, spec, "nst", "--", *args]
