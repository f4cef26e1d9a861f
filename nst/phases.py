"""The phases of a run, announced as each begins: for messages and for observers.

The run path calls `enter(name)` at every boundary (NAMES, in order); `words()` says
what the run was doing when an interruption came, for the one-line message an entry
point prints. Observers (functions of the name) are for tools and tests: the test entry
point tests/pause_entry.py waits for a signal on entering a phase, so that a test
interrupts exactly that phase on any machine. "step" is entered at every iterate a run
takes (the first is its start, before any L-BFGS step), once its callback has seen it;
`last_iterate()` is that iterate.
"""

WORDS = {
    "inputs": "reading and checking the inputs",
    "tensorflow": "loading TensorFlow",
    "network": "reading the VGG19 weights",
    "normalization": "computing the VGG19 normalisation factors",
    "targets": "computing the targets",
    "eval_mode": "choosing the evaluation mode",
    "trace": "tracing the loss and evaluating the start",
    "step": "optimising",
    "level": "starting the next coarse-to-fine level",
    "synthesis": "synthesising the combined style image",
    "flow": "computing the optical flow",  # nst-video, between two frames
    "write": "writing the outputs",
}
NAMES = tuple(WORDS)

observers = []     # called with the name of each phase entered, in this process
_now = {"phase": None, "iterate": None}


def enter(name):
  """The run enters phase `name` (one of NAMES): tell the observers."""
  assert name in WORDS, name
  _now["phase"] = name
  for observer in list(observers):
    observer(name)


def current():
  """The phase entered last in this process (None before any)."""
  return _now["phase"]


def words(name=None):
  """What a run does in phase `name` (default: the current one), for messages."""
  return WORDS.get(name or current(), "starting")


def iterate(it):
  """The run took iterate `it` and its callback has seen it: enter "step"."""
  _now["iterate"] = it
  enter("step")


def last_iterate():
  """The iterate of the last "step" entered in this process (None before any)."""
  return _now["iterate"]
