"""Test-only entry point: a program of nst run with an observer of its phases
(nst/phases.py) that, on entering PHASE for the COUNT-th time (default 1), says
`paused at PHASE[:COUNT]` on stderr and waits for a signal. The test sends it then,
so the signal's handler runs inside that phase on any machine, never before or after.

  python tests/pause_entry.py SPEC nst|batch|video|SCRIPT.py -- <its flags>

SPEC: PHASE[:COUNT]; or at_step=[L:]N: wait for a signal once iteration N (of
coarse-to-fine level L, or of any level) has been reported; or wait_at=[L:]N,...:
at each of those iterations, read a line from stdin before going on (so that a test
can look at the live page at a known step).

SCRIPT.py: a figure script of scripts/ (e.g. scripts/figure1.py), run as its main.
"""

import os
import runpy
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# pylint: disable=g-import-not-at-top,wrong-import-position
from nst import interrupts
from nst import phases


def wait_for_a_signal():
  """Return once SIGINT or SIGTERM has come and its handler has run (raising
  here, or holding it: see interrupts.held). Polled, not signal.pause(): a signal
  that came just before pause() would be missed, and the test would wait forever."""
  came = []
  handlers = {}

  def note(signum, frame):
    came.append(signum)
    handler = handlers[signum]
    if callable(handler):
      handler(signum, frame)
  for signum in interrupts.SIGNALS:
    handlers[signum] = signal.signal(signum, note)
  try:
    print(f"paused at {SPEC}", file=sys.stderr, flush=True)
    while not came:
      time.sleep(0.01)
  finally:
    for signum, handler in handlers.items():
      signal.signal(signum, handler)


def observer(phase, count):
  seen = [0]

  def observe(name):
    if name == phase:
      seen[0] += 1
      if seen[0] == count:
        wait_for_a_signal()
  return observe


def steps(text):
  """{(level or None, iteration)} of a comma list of N (that iteration, of any
  level) or L:N (of coarse-to-fine level L only)."""
  found = set()
  for item in filter(None, text.split(",")):
    level, _, step = item.rpartition(":")
    found.add((int(level) if level else None, int(step)))
  return found


def step_observer(at, then):
  """Calls `then()` on entering "step" at one of the iterations `at` (steps())."""
  def observe(name):
    it = phases.last_iterate()
    if name == "step" and ((None, it.iteration) in at or (it.level, it.iteration) in at):
      then()
  return observe


if __name__ == "__main__":
  SPEC, program, separator, *arguments = sys.argv[1:]
  assert separator == "--", sys.argv
  if SPEC.startswith("at_step="):
    phases.observers.append(step_observer(steps(SPEC[len("at_step="):]),
                                          wait_for_a_signal))
  elif SPEC.startswith("wait_at="):
    phases.observers.append(step_observer(steps(SPEC[len("wait_at="):]),
                                          sys.stdin.readline))
  else:
    phase, _, count = SPEC.partition(":")
    assert phase in phases.NAMES, phase
    phases.observers.append(observer(phase, int(count or 1)))
  sys.argv = [program, *arguments]
  if program == "nst":
    from nst.cli import main as cli
    cli.run_main()
  elif program == "batch":
    from nst.cli import batch
    batch.run_main()
  elif program == "video":
    from nst.cli import video
    video.run_main()
  elif program.endswith(".py"):
    sys.path.insert(0, os.path.dirname(os.path.abspath(program)))
    runpy.run_path(program, run_name="__main__")
  else:
    raise SystemExit(f"pause_entry: unknown program {program!r}")
