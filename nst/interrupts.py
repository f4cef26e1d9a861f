"""SIGINT and SIGTERM as exceptions, and the one mapping from them to exit codes.

SIGINT raises KeyboardInterrupt (Python's default); `install` makes SIGTERM raise
Terminated, so that a run stopped politely (a scheduler, `kill`, a preempted machine)
keeps its work as Ctrl-C does. Library code lets both propagate, or turns them into a
result or a RunError that says what was kept; only the entry points print and exit,
with `exit_code`.
"""

import contextlib
import signal
import threading

EXIT_SIGINT = 130   # the shell's codes for a process ended by SIGINT / SIGTERM
EXIT_SIGTERM = 143
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Terminated(BaseException):
  """SIGTERM, raised by the handler `install` sets. A BaseException, as
  KeyboardInterrupt is, so that no `except Exception` swallows it."""


INTERRUPTS = (KeyboardInterrupt, Terminated)


def exit_code(error):
  """130 for a KeyboardInterrupt, 143 for a Terminated; the error's own exit_code
  where it carries one (run.RunError, batch.JobInterrupted)."""
  code = getattr(error, "exit_code", None)
  if code:
    return code
  return EXIT_SIGTERM if isinstance(error, Terminated) else EXIT_SIGINT


def code_of(signum):
  return EXIT_SIGTERM if signum == signal.SIGTERM else EXIT_SIGINT


def exception(code):
  """The exception a signal of exit code `code` raises (to re-raise a held one)."""
  return Terminated() if code == EXIT_SIGTERM else KeyboardInterrupt()


def raise_terminated(signum, frame):
  del signum, frame
  raise Terminated()


def install():
  """Make SIGTERM raise Terminated: each entry point calls this first in its main,
  so that a SIGTERM in any phase, input checks included, is handled as Ctrl-C."""
  signal.signal(signal.SIGTERM, raise_terminated)


class Held:
  """What `held` caught: the first signal's exit code, or 0."""
  code = 0


@contextlib.contextmanager
def held():
  """Hold SIGINT and SIGTERM while the block runs (a run writing its outputs, so that
  they are all there, consistent), then let the caller act on them: yields a Held.

  Only signals that would raise are held (not one ignored, or left to its default
  action: that kills the process, as the caller chose). Outside the main thread no
  handler can be set, and nothing is held.
  """
  caught = Held()
  if threading.current_thread() is not threading.main_thread():
    yield caught
    return

  def hold(signum, frame):
    del frame
    caught.code = caught.code or code_of(signum)
  previous = {}
  for signum in SIGNALS:
    if callable(signal.getsignal(signum)):
      previous[signum] = signal.signal(signum, hold)
  try:
    yield caught
  finally:
    for signum, handler in previous.items():
      signal.signal(signum, handler)
