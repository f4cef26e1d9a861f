"""Watch a run in the browser: a small read-only page served from memory (stdlib only).

`Live` holds what the page shows: the latest iterate, the loss history, the run's
settings and, for a batch, a table of jobs. The run's callback hands it every iterate
with `update`, which only stores a reference and a few floats: the PNG is encoded
lazily, in the server's thread, at most once per `png_interval` seconds and once per
image, so a run nobody watches pays nothing and one that is watched pays little.

The server (server.py) answers GET (and HEAD) on a fixed set of routes with the page
(page.html) and this state. It listens on 127.0.0.1 unless a host is given explicitly,
and runs in daemon threads, so it dies with the run.
"""

import dataclasses
import errno
import math
import io
import socket
import threading
import time

import numpy as np
from PIL import Image

from nst import image as image_lib
from nst import interrupts
from nst.errors import UserError, flag
from nst.live import server
from nst.live.server import is_loopback  # pylint: disable=unused-import  (serve.is_loopback)
from nst.runs import records
from nst.runs import single as run_lib

LOOPBACK = "127.0.0.1"
PNG_INTERVAL = 0.5  # seconds between encodings: at most two a second, whoever polls
THUMBNAIL = 96      # px, longest side of a batch's thumbnails


class Live:
  """The state of a run (or a batch) as the page sees it; safe across threads."""

  def __init__(self, png_interval=PNG_INTERVAL):
    self.png_interval = png_interval
    self._lock = threading.Lock()      # guards the fields below; held only briefly
    self._png_lock = threading.Lock()  # one encoding at a time, outside _lock
    self._version = 0
    self._image_version = 0
    self._settings_version = 0
    self._run = {"title": "nst", "settings": {}, "alpha": 1.0, "beta": 1.0,
                 "tv_weight": 0.0, "layer_weights": {"content": {}, "style": {}}}
    self._transform = None
    self._latest = None
    self._history = []
    self._finished = False
    self._stopped = None
    self._jobs = None
    self._batch = None
    self._jobs_version = 0
    self._thumbs = {}  # key -> PNG bytes of a finished job's image (a batch)
    self._png = (None, None, -math.inf)  # (image version, bytes, monotonic time)
    self._server = None
    self._thread = None

  # What the run calls (the optimisation thread): cheap, no encoding.

  def watch(self, prepared, title=None):
    """Show a prepared run (a Plan or one-scale run) from now on; return the callback
    that shows its iterates (a coarse-to-fine run's levels each as a run)."""
    begin_run(self, prepared, title)
    return updater(self, prepared, title)

  def begin(self, *, title="nst", settings=None, alpha=1.0, beta=1.0, tv_weight=0.0,
            layer_weights=None, transform=None):
    """Start showing a new run: its settings, the weights its curves are scaled by,
    and `transform`, applied to an iterate's image before it is shown (in the server's
    thread). Clears the previous run's image and history (a batch's next job)."""
    with self._lock:
      self._run = {"title": title, "settings": server.plain(settings or {}),
                   "alpha": alpha, "beta": beta, "tv_weight": tv_weight,
                   "layer_weights": server.plain(layer_weights or {"content": {},
                                                             "style": {}})}
      self._transform = transform
      self._latest, self._history = None, []
      self._finished, self._stopped = False, None
      self._settings_version += 1
      self._image_version += 1
      self._version += 1

  def update(self, iterate):
    """Take an optimize.Iterate. Keeps a reference to its image (a fresh array per
    iterate, never written to afterwards), so this costs microseconds."""
    entry = dict(iteration=iterate.iteration, evaluations=iterate.evaluations,
                 elapsed=iterate.elapsed, **iterate.losses)
    with self._lock:
      if self._history and self._history[-1]["iteration"] == iterate.iteration:
        self._history[-1] = entry  # a resumed run reports its first step again
      else:
        self._history.append(entry)
      self._latest = iterate
      if iterate.finished:
        self._finished = True
        self._stopped = ("num_steps" if iterate.iteration >= iterate.num_steps else
                         "converged" if iterate.converged else "line_search")
      self._image_version += 1
      self._version += 1

  def finish(self, stopped=None):
    """The run is over (also after an interruption or an error)."""
    with self._lock:
      self._finished = True
      self._stopped = stopped or self._stopped or "ended"
      self._version += 1

  def set_jobs(self, jobs, done=None, eta=None):
    """Show a table of jobs (a batch): a list of dicts of plain values, one a row,
    their keys the columns (e.g. name, state, iteration, seconds, output); a column
    "image" holds the path of a thumbnail (see set_thumbnail). `done` and `eta` (s):
    the batch's progress, shown beside the current job's."""
    with self._lock:
      self._jobs = server.plain([dict(job) for job in jobs])
      self._batch = None if done is None else server.plain({"done": done,
                                                      "total": len(self._jobs),
                                                      "eta": eta})
      self._jobs_version += 1
      self._version += 1

  def set_thumbnail(self, key, image, size=THUMBNAIL):
    """Keep a small PNG of `image` (HxWx3, 0-255) served at thumbs/<key>.png; return
    that path. Called once a job has ended, in the batch's thread (not the run's)."""
    key = str(key)
    if not key.isalnum():
      raise ValueError(f"thumbnail key must be letters or digits, got {key!r}")
    picture = Image.fromarray(np.clip(np.round(image), 0, 255).astype(np.uint8))
    picture.thumbnail((size, size))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    with self._lock:
      self._thumbs[key] = buffer.getvalue()
      self._jobs_version += 1
      self._version += 1
    return f"thumbs/{key}.png"

  def thumbnail(self, key):
    with self._lock:
      return self._thumbs.get(key)

  # What the page reads (the server's threads).

  def state(self):
    """The small JSON the page polls; `version` grows with every change."""
    with self._lock:
      it = self._latest
      state = {"version": self._version, "finished": self._finished,
               "stopped": self._stopped, "title": self._run["title"],
               "image_version": self._image_version,
               "settings_version": self._settings_version, "started": it is not None}
      if it is not None:
        state.update(iteration=it.iteration, num_steps=it.num_steps,
                     evaluations=it.evaluations, elapsed=it.elapsed,
                     eta=0.0 if self._finished else it.eta,
                     losses={k: it.losses[k] for k in ("total", "content", "style",
                                                       "tv")})
      if self._jobs is not None:
        state["jobs"] = self._jobs
        state["jobs_version"] = self._jobs_version
      if self._batch is not None:
        state["batch"] = self._batch
    return server.plain(state)

  def history(self):
    """The loss history and the weights its curves are drawn with."""
    with self._lock:
      run, history = self._run, list(self._history)
      num_steps = self._latest.num_steps if self._latest is not None else None
      version = self._image_version
    return server.plain({"image_version": version, "num_steps": num_steps,
                   "alpha": run["alpha"], "beta": run["beta"],
                   "tv_weight": run["tv_weight"],
                   "layer_weights": run["layer_weights"], "history": history})

  def settings(self):
    with self._lock:
      return {"title": self._run["title"], "settings": self._run["settings"]}

  def png(self):
    """(image version, PNG bytes) of the latest image, or None before the first.

    Encodes at most once per png_interval: a request in between gets the last PNG
    (its version says which). The final image is always encoded."""
    with self._png_lock:
      with self._lock:
        it, version, final = self._latest, self._image_version, self._finished
        transform = self._transform
      if it is None:
        return None
      cached_version, data, when = self._png
      now = time.monotonic()
      if cached_version != version and (final or now - when >= self.png_interval):
        image = transform(it.image) if transform is not None else it.image
        buffer = io.BytesIO()
        Image.fromarray(np.clip(np.round(image), 0, 255).astype(np.uint8)).save(
            buffer, format="PNG", compress_level=1)  # fast; it is thrown away soon
        self._png = (version, buffer.getvalue(), now)
      return self._png[:2]

  # The server.

  def start(self, host=LOOPBACK, port=0):
    """Listen on host:port (port 0: a free one) in daemon threads; return the URL.
    Raises UserError naming --serve_port / --serve_host when it cannot listen."""
    if not isinstance(port, int) or not 0 <= port <= 65535:
      raise UserError(f"{flag('serve_port')} must be 0 (a free port) or 1-65535, got "
                      f"{port}", option="serve_port")
    if not host:
      raise UserError(f"{flag('serve_host')}: give an address to listen on (127.0.0.1, "
                      "the default, keeps the page on this machine)",
                      option="serve_host")
    try:
      family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except (socket.gaierror, UnicodeError) as e:
      raise UserError(f"{flag('serve_host')}: cannot resolve {host!r} ({e}); give an "
                      "address of this machine, e.g. 127.0.0.1",
                      option="serve_host") from None
    try:
      self._server = server.listen(self, family, host, port)
    except PermissionError:
      raise UserError(f"{flag('serve_port')}: port {port} needs privileges; choose one "
                      "above 1023, or 0 for a free port", option="serve_port") from None
    except OSError as e:
      if e.errno == errno.EADDRINUSE:
        raise UserError(f"{flag('serve_port')}: port {port} on {host} is in use; "
                        "choose another, or 0 for a free port",
                        option="serve_port") from None
      raise UserError(f"{flag('serve_host')}: cannot listen on {host!r} "
                      f"({e.strerror}); give an address of this machine, e.g. 127.0.0.1",
                      option="serve_host") from None
    self._thread = threading.Thread(target=self._server.serve_forever,
                                    kwargs={"poll_interval": 0.2},
                                    name="nst-serve", daemon=True)
    self._thread.start()
    return self.url

  @property
  def url(self):
    host, port = self._server.server_address[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"

  def linger(self, seconds, log=None):
    """Mark the run finished and keep serving its final state for `seconds` (Ctrl-C
    ends it early), then stop."""
    self.finish()
    log = log or (lambda line: print(line, flush=True))
    if seconds > 0:
      try:
        log(f"nst: serving the final state at {self.url} for {seconds:g} s "
            "(Ctrl-C stops it)")
        time.sleep(seconds)
      except interrupts.INTERRUPTS:  # Ctrl-C or SIGTERM: the run is over anyway
        pass
    self.close()

  def close(self):
    if self._server is not None:
      self._server.shutdown()
      self._server.server_close()
      self._server = None


def begin_run(live, prepared, title=None):
  """live.begin for a prepared run (nst.runs.plan.Plan): its settings, curve weights,
  and the colour recombination of --color_control=luminance."""
  settings = prepared.settings
  height, width = prepared.shape
  shown = {"preset": prepared.preset, "content_image": prepared.sources["content"],
           "style_image": ",".join(p or run_lib.ARRAY
                                   for p in prepared.sources["style"]),
           "size": f"{width}x{height} px", "output": prepared.output,
           **records.settings_dict(settings)}
  live.begin(title=title or f"nst: {prepared.output or 'run'}", settings=shown,
             alpha=settings.alpha, beta=settings.beta, tv_weight=settings.tv_weight,
             layer_weights={"content": settings.content_weights(),
                            "style": settings.style_weights()},
             transform=lambda image: run_lib.final_image(prepared, image))


def updater(live, prepared, title=None):
  """live.update for a prepared run's iterates, begun with begin_run; a
  coarse-to-fine run's levels are each shown as a run of their own."""
  shown = {"level": None}

  def update(it):
    if it.level != shown["level"]:  # a new coarse-to-fine level
      shown["level"] = it.level
      height, width = it.image.shape[:2]
      # At the level's size the photograph its colours are recombined with (only
      # --color_control=luminance uses it; this is for display).
      run = getattr(prepared, "run", prepared)  # a Plan's one-scale run
      view = dataclasses.replace(run, photograph=image_lib.resize(
          run.photograph, (height, width)))
      begin_run(live, view, f"{title or 'nst: ' + (prepared.output or 'run')}, level "
                f"{it.level}/{it.num_levels} ({width}x{height} px)")
    live.update(it)
  return update


def for_run(prepared, host=LOOPBACK, port=0):
  """A started Live showing a prepared run."""
  live = Live()
  begin_run(live, prepared)
  live.start(host, port)
  return live


