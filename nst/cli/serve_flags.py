"""The --serve flags, the same for nst, nst-batch and the figure scripts (the live
page itself is nst.live.serve)."""

import sys

from nst.errors import UserError
from nst.live.serve import LOOPBACK, Live, is_loopback


def define(flags):
  """--serve and its options on absl's `flags`: the same for nst, nst-batch and the
  figure scripts. Not run options, so never in a record."""
  flags.DEFINE_bool(
      "serve", False, "Serve a page showing the run live (image, loss curves, "
      "progress, settings; a batch's jobs) at the URL printed at start; read-only, no "
      "network access needed.")
  flags.DEFINE_integer("serve_port", 0, "Port of --serve's page; 0: a free port.")
  flags.DEFINE_string(
      "serve_host", LOOPBACK,
      "Address --serve listens on; anything but loopback shows the run to every "
      "machine that can reach this one, so it must be given on purpose.")
  flags.DEFINE_float(
      "serve_linger", 0, "Seconds to keep serving the final state after the run "
      "(Ctrl-C ends it early).")


def check(values):
  """A UserError for a --serve option given without --serve, or a bad linger."""
  given = [n for n in ("serve_port", "serve_host", "serve_linger") if values[n].present]
  if not values.serve and given:
    raise UserError(f"--{given[0]} only applies to the live page; add --serve",
                    option=given[0])
  if values.serve_linger < 0:
    raise UserError(f"--serve_linger must be >= 0 seconds, got {values.serve_linger:g}",
                    option="serve_linger")


def from_flags(values, program, log=None):
  """The started Live that the --serve flags of `values` (absl FlagValues) ask for,
  or None. Start it once the inputs are checked (bad input is reported at once) and
  before TensorFlow loads. Raises UserError for an option given without --serve."""
  check(values)
  if not values.serve:
    return None
  log = log or (lambda line: print(line, flush=True))
  live = Live()
  live.start(values.serve_host, values.serve_port)
  log(f"{program}: watch the run at {live.url}")
  if not is_loopback(values.serve_host):
    print(f"{program}: warning: --serve_host={values.serve_host} shows the run to "
          "every machine that can reach this one", file=sys.stderr, flush=True)
  return live
