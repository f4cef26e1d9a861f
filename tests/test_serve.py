"""The live page (serve.py): routes and safety on synthetic iterates, a real run watched
over HTTP, and the page in a real browser (headless Chromium).

No test depends on the machine's speed: a real run waits on stdin after the steps named
by tests/pause_entry.py wait_at=... and, with --serve_linger, after the end
until it is sent SIGINT; timeouts are only guards against a hang.
"""

import dataclasses
import http.client
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import skimage.data
from PIL import Image

from helpers import paused_nst
from helpers import photograph
from helpers import with_ctrl_c  # pylint: disable=g-bad-import-order
from nst import image as image_lib
from nst.live import serve
from nst.errors import UserError

HANG_GUARD = 600  # seconds: only ever reached by a hang


@dataclasses.dataclass
class FakeIterate:
  """What the run hands its callback (optimize.Iterate), without TensorFlow."""
  iteration: int
  num_steps: int = 20
  image: np.ndarray = None
  elapsed: float = 1.0
  converged: bool = False

  def __post_init__(self):
    self.evaluations = 2 * self.iteration + 1
    self.losses = {"total": 100.0 / (1 + self.iteration), "content": 2.0 + self.iteration,
                   "style": 50.0 / (1 + self.iteration), "tv": 0.0,
                   "content_layers": {"relu4_2": 2.0 + self.iteration},
                   "style_layers": {"relu1_1": 1.0, "relu2_1": float("nan")}}
    if self.image is None:
      rng = np.random.default_rng(self.iteration)
      self.image = rng.uniform(-20, 275, (24, 40, 3)).astype(np.float32)

  @property
  def finished(self):
    return self.iteration >= self.num_steps or self.converged

  @property
  def eta(self):
    return None if self.iteration == 0 else 0.5 * (self.num_steps - self.iteration)


def request(url, path, method="GET", headers=None):
  """(status, headers, body) of one request, the path sent exactly as given."""
  host, port = re.match(r"http://\[?([^\]]+?)\]?:(\d+)/", url).groups()
  connection = http.client.HTTPConnection(host, int(port), timeout=60)
  try:
    connection.request(method, path, headers=headers or {})
    response = connection.getresponse()
    return response.status, dict(response.getheaders()), response.read()
  finally:
    connection.close()


def get_json(url, path):
  status, headers, body = request(url, path)
  assert status == 200 and headers["Content-Type"] == "application/json", status
  # Strict JSON, as a browser parses it: no NaN or Infinity.
  return json.loads(body, parse_constant=lambda c: pytest.fail(f"{path}: {c} in JSON"))


def get_png(url):
  status, headers, body = request(url, "/image.png")
  assert status == 200 and headers["Content-Type"] == "image/png"
  return int(headers["X-Image-Version"]), np.asarray(Image.open(io.BytesIO(body)))


@pytest.fixture
def live():
  shown = serve.Live()
  shown.begin(title="test run", settings={"alpha": 0.01, "content_image": "c.png"},
              alpha=0.01, beta=1.0,
              layer_weights={"content": {"relu4_2": 1.0}, "style": {"relu1_1": 0.5}})
  shown.start()
  yield shown
  shown.close()


# (a) The server, on synthetic iterates.


def test_listens_on_loopback_on_a_free_port_by_default(live):
  assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", live.url)
  assert int(live.url.rsplit(":", 1)[1].strip("/")) > 0
  assert serve.is_loopback("127.0.0.1") and serve.is_loopback("localhost")
  assert not serve.is_loopback("0.0.0.0")


def test_page_is_self_contained_and_read_only(live):
  status, headers, body = request(live.url, "/")
  assert status == 200 and headers["Content-Type"].startswith("text/html")
  page = body.decode()
  assert "<canvas" in page and "image.png" in page and "state.json" in page
  # Nothing is loaded from elsewhere (works offline, no CDN), and the browser is told
  # so: the policy allows this server only.
  assert not re.search(r"(src|href)=\"(https?:)?//", page)
  assert "default-src 'none'" in headers["Content-Security-Policy"]
  assert request(live.url, "/index.html")[2] == body


def test_state_history_and_image_follow_the_updates(live):
  before = get_json(live.url, "/state.json")
  assert not before["started"] and not before["finished"]
  assert request(live.url, "/image.png")[0] == 404  # nothing to show yet
  assert get_json(live.url, "/settings.json")["settings"]["content_image"] == "c.png"

  live.update(FakeIterate(0))
  live.update(FakeIterate(5))
  state = get_json(live.url, "/state.json")
  assert state["version"] > before["version"] and state["started"]
  assert (state["iteration"], state["num_steps"], state["evaluations"]) == (5, 20, 11)
  assert state["eta"] == 7.5 and state["losses"]["total"] == pytest.approx(100 / 6)
  assert "jobs" not in state
  history = get_json(live.url, "/history.json")
  assert [h["iteration"] for h in history["history"]] == [0, 5]
  assert history["alpha"] == 0.01 and history["layer_weights"]["style"] == {
      "relu1_1": 0.5}
  assert history["history"][1]["style_layers"] == {"relu1_1": 1.0, "relu2_1": None}

  version, png = get_png(live.url)
  assert version == state["image_version"]
  np.testing.assert_array_equal(png, image_lib.to_uint8(FakeIterate(5).image))

  live.update(FakeIterate(20))  # the last iterate: finished
  final = get_json(live.url, "/state.json")
  assert final["version"] > state["version"]
  assert final["finished"] and final["stopped"] == "num_steps" and final["eta"] == 0
  assert [h["iteration"] for h in get_json(live.url, "/history.json")["history"]] == [
      0, 5, 20]


def test_png_is_encoded_lazily_at_a_bounded_rate(live, monkeypatch):
  encoded = []
  fromarray = Image.fromarray
  monkeypatch.setattr(Image, "fromarray", lambda a: encoded.append(1) or fromarray(a))
  live.png_interval = 1e9  # no second encoding until the run is finished
  for i in range(50):
    live.update(FakeIterate(i, num_steps=100))
  assert not encoded  # the run's thread never encodes
  first, png = get_png(live.url)
  np.testing.assert_array_equal(png, image_lib.to_uint8(FakeIterate(49).image))
  assert get_png(live.url)[0] == first and len(encoded) == 1  # cached per version
  live.update(FakeIterate(50, num_steps=100))
  assert get_png(live.url)[0] == first and len(encoded) == 1  # bounded: the old one
  live.finish()
  version, png = get_png(live.url)  # the final image is always shown
  assert version > first and len(encoded) == 2
  np.testing.assert_array_equal(png, image_lib.to_uint8(FakeIterate(50).image))


def test_transform_is_applied_in_the_server_thread(live):
  live.begin(transform=lambda image: 255 - image)
  live.update(FakeIterate(3))
  _, png = get_png(live.url)
  np.testing.assert_array_equal(png, image_lib.to_uint8(255 - FakeIterate(3).image))
  assert get_json(live.url, "/history.json")["history"][0]["iteration"] == 3


def test_jobs_table_for_a_batch(live):
  version = get_json(live.url, "/state.json")["version"]
  live.set_jobs([{"name": "a", "state": "done", "seconds": 1.5},
                 {"name": "b", "state": "running", "loss": float("inf")}])
  state = get_json(live.url, "/state.json")
  assert state["version"] > version
  assert state["jobs"] == [{"name": "a", "state": "done", "seconds": 1.5},
                           {"name": "b", "state": "running", "loss": None}]


def test_batch_progress_and_thumbnails(live):
  image = np.zeros((60, 240, 3), np.float32)
  image[:, 120:] = 255.0  # left half black, right half white
  path = live.set_thumbnail(3, image)
  assert path == "thumbs/3.png"
  live.set_jobs([{"job": "a", "state": "done", "image": path}], done=1, eta=12.5)
  state = get_json(live.url, "/state.json")
  assert state["batch"] == {"done": 1, "total": 1, "eta": 12.5}
  assert state["jobs"][0]["image"] == path
  status, headers, body = request(live.url, "/" + path)
  assert status == 200 and headers["Content-Type"] == "image/png"
  thumb = np.asarray(Image.open(io.BytesIO(body)))
  assert thumb.shape == (24, serve.THUMBNAIL, 3)  # longest side 96, aspect kept
  assert thumb[:, :40].max() < 20 and thumb[:, 56:].min() > 235
  for missing in ("/thumbs/4.png", "/thumbs/3", "/thumbs/../3.png", "/thumbs/3.png/x"):
    assert request(live.url, missing)[0] == 404, missing
  with pytest.raises(ValueError):
    live.set_thumbnail("../x", image)


@pytest.mark.parametrize("path", [
    "/../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fetc%2fpasswd",
    "/state.json/../../etc/passwd", "//etc/passwd", "/etc/passwd", "/nst/live/serve.py",
    "/tests/test_serve.py", "/image.png/..", "/favicon.ico", "/state", "/STATE.JSON"])
def test_unknown_routes_and_path_traversal_are_404(live, path):
  live.update(FakeIterate(1))
  status, _, body = request(live.url, path)
  assert status == 404 and b"root:" not in body


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS",
                                    "TRACE", "BREW"])
def test_other_methods_are_405(live, method):
  status, headers, _ = request(live.url, "/state.json", method=method)
  assert status == 405 and headers["Allow"] == "GET, HEAD"
  assert request(live.url, "/state.json", method="HEAD")[0] == 200


def test_a_foreign_host_name_is_refused_on_loopback(live):
  # A web page whose name resolves to 127.0.0.1 (DNS rebinding) can't read the run.
  assert request(live.url, "/state.json", headers={"Host": "evil.example:80"})[0] == 403
  assert request(live.url, "/state.json", headers={"Host": "localhost"})[0] == 200


def test_bad_addresses_name_the_flag():
  with pytest.raises(UserError, match=r"--serve_port must be 0 .* got 70000"):
    serve.Live().start(port=70000)
  with pytest.raises(UserError, match="--serve_host: cannot resolve"):
    serve.Live().start(host="no-such-host.invalid")
  with socket.socket() as taken:
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    with pytest.raises(UserError, match=f"--serve_port: port {port} .* is in use"):
      serve.Live().start(port=port)


def test_closing_stops_the_server(live):
  url = live.url
  live.close()
  with pytest.raises(OSError):
    request(url, "/state.json")


# The command line: bad serve flags fail at once, in one line (no TensorFlow loaded).


def nst_args(*args):
  return [sys.executable, "-m", "nst", *args]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
  """A photograph and an artwork from scikit-image's samples (free to use)."""
  folder = tmp_path_factory.mktemp("pair")
  image_lib.save_image(str(folder / "c.png"), photograph(48))
  image_lib.save_image(str(folder / "s.png"), image_lib.resize(
      image_lib.to_rgb(skimage.data.coffee()), (40, 60)))
  return [f"--content_image={folder / 'c.png'}", f"--style_image={folder / 's.png'}"]


def test_bad_serve_flags_fail_in_one_line(tmp_path, pair):
  with socket.socket() as taken:
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    cases = {("--serve", "--serve_port=70000"): "--serve_port must be 0",
             ("--serve", f"--serve_port={port}"): f"port {port} on 127.0.0.1 is in use",
             ("--serve_host=0.0.0.0",): "--serve_host only applies to the live page; "
                                        "add --serve",
             ("--serve", "--serve_linger=-1"): "--serve_linger must be >= 0",
             ("--serve", "--serve_host=no-such-host.invalid"): "--serve_host: cannot",
             ("--serve", "--serve_port=x"): "serve_port"}
    for flags, message in cases.items():
      result = subprocess.run(nst_args(*pair, *flags, "--output=o.png"), cwd=tmp_path,
                              capture_output=True, text=True, timeout=HANG_GUARD,
                              check=False)
      assert result.returncode == 2, (flags, result.stderr)
      assert message in result.stderr and "Traceback" not in result.stderr, flags
      assert len(result.stderr.strip().splitlines()) == 1, result.stderr
  assert os.listdir(tmp_path) == []


# (b) A real run, watched over HTTP.


class WatchedRun:
  """`nst --serve` in a subprocess that waits on stdin after the steps in `wait_at`."""

  def __init__(self, args, cwd, wait_at):
    self.stderr = open(os.path.join(cwd, "stderr.txt"), "w+", encoding="utf-8")  # pylint: disable=consider-using-with
    self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
        paused_nst("wait_at=" + ",".join(str(s) for s in wait_at), *args), cwd=cwd,
        text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
        preexec_fn=with_ctrl_c)
    self.guard = threading.Timer(HANG_GUARD, self.proc.kill)
    self.guard.start()
    self.lines = []
    self.url = self.read_until(r"watch the run at (\S+)").group(1)

  def read_until(self, pattern):
    """Read the run's stdout up to a line matching `pattern`; its match."""
    for line in self.proc.stdout:
      self.lines.append(line)
      found = re.search(pattern, line)
      if found:
        return found
    self.stderr.seek(0)
    raise AssertionError(f"nst ended before {pattern!r}:\n{''.join(self.lines)}\n"
                         f"{self.stderr.read()}")

  def step(self, iteration):
    return self.read_until(rf"^step +{iteration}/")

  def resume(self):
    self.proc.stdin.write("\n")
    self.proc.stdin.flush()

  def wait(self):
    code = self.proc.wait(timeout=HANG_GUARD)
    self.stderr.seek(0)
    return code, "".join(self.lines) + self.proc.stdout.read(), self.stderr.read()

  def close(self):
    self.guard.cancel()
    if self.proc.poll() is None:
      self.proc.kill()
      self.proc.wait()
    self.proc.stdout.close()
    self.proc.stdin.close()
    self.stderr.close()


@pytest.fixture
def watched(tmp_path):
  runs = []

  def start(args, wait_at):
    runs.append(WatchedRun(args, tmp_path, wait_at))
    return runs[-1]
  yield start
  for run in runs:
    run.close()


def fresh_png(url, image_version):
  """The PNG of `image_version`: the server encodes at a bounded rate, so an older one
  may come first; the run is waiting, so the wanted one comes (no speed assumed)."""
  while True:
    version, png = get_png(url)
    if version == image_version:
      return png
    time.sleep(0.1)


def test_a_real_run_is_watched_over_http(tmp_path, pair, watched, weights_path):
  run = watched([*pair, "--image_size=32", "--num_steps=20", "--report_every=5",
                 "--serve", "--serve_linger=600", "--output=live.png"], wait_at=(0, 10))
  assert run.url.startswith("http://127.0.0.1:")
  page = request(run.url, "/")[2].decode()
  assert "<canvas" in page
  settings = get_json(run.url, "/settings.json")["settings"]
  assert settings["num_steps"] == 20 and settings["size"] == "32x32 px"

  seen = []
  for step in (0, 10):
    run.step(step)  # the run now waits: the page shows exactly this step
    state = get_json(run.url, "/state.json")
    assert state["iteration"] == step and state["num_steps"] == 20
    assert not state["finished"]
    history = get_json(run.url, "/history.json")
    assert history["history"][-1]["iteration"] == step
    png = fresh_png(run.url, state["image_version"])
    assert png.shape == (32, 32, 3) and png.dtype == np.uint8
    seen.append((state, history, png))
    run.resume()
  (state0, history0, png0), (state10, history10, png10) = seen
  assert state10["version"] > state0["version"]
  assert state10["evaluations"] > state0["evaluations"]
  assert state10["losses"]["total"] < state0["losses"]["total"]
  assert len(history10["history"]) > len(history0["history"])
  assert not np.array_equal(png0, png10)  # the image changes as iterations advance

  run.read_until(r"serving the final state at")  # finished; lingering
  final = get_json(run.url, "/state.json")
  assert final["finished"] and final["stopped"] == "num_steps"
  assert final["iteration"] == 20 and final["eta"] == 0
  written = image_lib.load_image(str(tmp_path / "live.png"))
  np.testing.assert_array_equal(fresh_png(run.url, final["image_version"]), written)
  record = json.loads((tmp_path / "live.json").read_text())
  served = get_json(run.url, "/history.json")["history"]
  assert [h["iteration"] for h in served] == [h["iteration"] for h in record["history"]]
  assert served[-1]["total"] == pytest.approx(record["history"][-1]["total"])
  assert not any("serve" in name for name in record["flags"])  # CLI-only flags
  assert not any("serve" in arg for arg in record["argv"])

  run.proc.send_signal(signal.SIGINT)  # ends the linger, not the (finished) run
  code, _, err = run.wait()
  assert code == 0, err
  with pytest.raises(OSError):  # the server died with the run
    request(run.url, "/state.json")


# (c) The page in a real browser.

CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser",
                                                 "google-chrome")
                 if shutil.which(name)), None)
# Where the page draws (serve.PAGE's fixed layout), as (top, bottom, left, right).
IMAGE_BOX = (72, 456, 16, 400)
CANVAS_BOX = (72, 456, 416, 976)


def screenshot(url, path):
  """A headless Chromium screenshot of `url`, 1000x800 CSS px at scale 1; the virtual
  time budget lets the page's script fetch and draw before the picture is taken."""
  subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                  "--hide-scrollbars", "--force-device-scale-factor=1",
                  "--window-size=1000,800", "--virtual-time-budget=10000",
                  f"--screenshot={path}", url],
                 capture_output=True, timeout=HANG_GUARD, check=True)
  return np.asarray(Image.open(path).convert("RGB")).astype(int)


def near(pixels, colour, tolerance=60):
  return np.abs(pixels - np.array(colour)).sum(axis=-1) < tolerance


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed "
                    "(Debian: apt-get install -y chromium, as .ci/run does)")
def test_the_page_in_a_real_browser_shows_the_image_and_the_curves(tmp_path, pair,
                                                                    watched,
                                                                    weights_path):
  run = watched([*pair, "--image_size=32", "--num_steps=20", "--report_every=5",
                 "--serve", "--output=browser.png"], wait_at=(10,))
  run.step(10)  # mid-run, waiting: the page shows step 10 of 20
  state = get_json(run.url, "/state.json")
  served = fresh_png(run.url, state["image_version"])
  shot = screenshot(run.url, str(tmp_path / "page.png"))
  assert shot.shape[:2] == (800, 1000)

  # The image: the 32x32 PNG fills the 384x384 box, each pixel a 12x12 block
  # (pixelated); the centres of the blocks are the image.
  top, bottom, left, right = IMAGE_BOX
  box = shot[top:bottom, left:right]
  assert box.std() > 10 and near(box, (224, 224, 224), 6).mean() < 0.5  # not empty
  centres = box[6::12, 6::12]
  assert centres.shape == (32, 32, 3)
  assert np.abs(centres - served.astype(int)).mean() < 4

  # The curves: total (black), alpha*content (blue) and beta*style (red) are drawn on
  # the canvas (the legend is outside it), over a white background.
  top, bottom, left, right = CANVAS_BOX
  canvas = shot[top:bottom, left:right]
  assert near(canvas, (255, 255, 255), 6).mean() > 0.8
  for colour in ((31, 119, 180), (214, 39, 40), (0, 0, 0)):
    assert near(canvas, colour).sum() > 40, colour
  # The x axis spans the whole run: the curves end half way, at step 10 of 20.
  blue_columns = np.nonzero(near(canvas, (31, 119, 180)).any(axis=0))[0]
  width = right - left
  assert 0.35 * width < blue_columns.max() < 0.65 * width

  run.resume()
  code, _, err = run.wait()
  assert code == 0, err
