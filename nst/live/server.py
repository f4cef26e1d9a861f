"""The live page's HTTP server (stdlib only): GET and HEAD on a fixed set of routes
and nothing else. It reads no file but its own page (page.html, a package file), so a
path that is not a route (`/../etc/passwd` included) is 404, and any other method is
405; it runs in daemon threads, so it dies with the run. What it shows is a Live's
(serve.py)."""

import http.server
import importlib.resources
import ipaddress
import json
import math
import socket
import socketserver
import sys
import urllib.parse

import numpy as np

# Fixed sizes, so that the page looks the same everywhere (and the browser test knows
# where the image and the curves are): header 56 px high; the image in a 384x384 box at
# (16, 72); the curves on a 560x384 canvas at (416, 72).
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")  # Host headers of a loopback page
PAGE = importlib.resources.files("nst.live").joinpath("page.html").read_text(
    encoding="utf-8")


def listen(live, family, host, port):
  """A server of `live`'s page on host:port (not yet serving: serve_forever)."""
  return _Server(family, (host, port), _handler(live, is_loopback(host)))


class _Server(http.server.ThreadingHTTPServer):
  """Threads that die with the run; no reverse DNS lookup at start (HTTPServer's
  getfqdn can hang for seconds on a machine without a network)."""
  daemon_threads = True

  def __init__(self, family, address, handler):
    self.address_family = family
    super().__init__(address, handler)

  def server_bind(self):
    socketserver.TCPServer.server_bind(self)
    self.server_name, self.server_port = self.server_address[:2]

  def handle_error(self, request, client_address):
    # A browser closed mid-answer: not worth a traceback in the run's output.
    if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
      super().handle_error(request, client_address)


def is_loopback(host):
  """Whether every address `host` names is a loopback address."""
  try:
    infos = socket.getaddrinfo(host, None)
  except (socket.gaierror, UnicodeError):
    return False
  return all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback
             for info in infos)


def plain(value):
  """JSON-safe values: numbers that are not finite become null (JSON has no NaN)."""
  if isinstance(value, dict):
    return {str(k): plain(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [plain(v) for v in value]
  if isinstance(value, (float, np.floating)):
    return float(value) if math.isfinite(value) else None
  if isinstance(value, np.integer):
    return int(value)
  if isinstance(value, np.bool_):
    return bool(value)
  if value is None or isinstance(value, (str, int, bool)):
    return value
  return str(value)


def _png(live):
  """(content type, PNG, headers) of the latest image; None (404) before the first."""
  found = live.png()
  if found is None:
    return None
  return "image/png", found[1], {"X-Image-Version": str(found[0])}


def _thumbnail(live, key):
  data = live.thumbnail(key)
  return None if data is None else ("image/png", data)


def _json(value):
  return "application/json", json.dumps(value).encode()


def _handler(live, loopback):
  """The request handler class for `live`: a fixed table of routes, nothing else."""
  routes = {
      "/": lambda: ("text/html; charset=utf-8", PAGE.encode()),
      "/index.html": lambda: ("text/html; charset=utf-8", PAGE.encode()),
      "/state.json": lambda: _json(live.state()),
      "/history.json": lambda: _json(live.history()),
      "/settings.json": lambda: _json(live.settings()),
      "/image.png": lambda: _png(live),
  }

  class Handler(http.server.BaseHTTPRequestHandler):
    """GET and HEAD on the routes; 404 for any other path, 405 for other methods."""
    server_version = "nst-live"
    sys_version = ""
    timeout = 60  # seconds: a client that stops talking loses its thread

    def do_GET(self):  # pylint: disable=invalid-name
      self._answer(body=True)

    def do_HEAD(self):  # pylint: disable=invalid-name
      self._answer(body=False)

    def __getattr__(self, name):
      # http.server calls do_<METHOD>; every method but GET and HEAD is refused.
      if name.startswith("do_"):
        return self._not_allowed
      raise AttributeError(name)

    def _not_allowed(self):
      self.close_connection = True  # any request body is left unread
      self._send(405, "text/plain", b"405: this page is read-only (GET only)\n",
                 extra={"Allow": "GET, HEAD"})

    def _answer(self, body):
      if loopback and not self._host_is_loopback():
        # A name that resolves to 127.0.0.1 from a web page (DNS rebinding) must not
        # let that page read the run.
        self._send(403, "text/plain", b"403: use http://127.0.0.1/ or localhost\n", body)
        return
      # The path is only looked up, never joined to a folder: no traversal possible.
      path = urllib.parse.urlsplit(self.path).path
      route = routes.get(path)
      if route is None and path.startswith("/thumbs/") and path.endswith(".png"):
        route = lambda: _thumbnail(live, path[len("/thumbs/"):-len(".png")])
      answer = route() if route is not None else None
      if answer is None:
        self._send(404, "text/plain", b"404: not found\n", body)
      else:
        self._send(200, *answer[:2], body, extra=answer[2] if len(answer) > 2 else None)

    def _host_is_loopback(self):
      host = (self.headers.get("Host") or "").lower()
      name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
      return name in LOOPBACK_NAMES

    def _send(self, code, content_type, data, body=True, extra=None):
      self.send_response(code)
      self.send_header("Content-Type", content_type)
      self.send_header("Content-Length", str(len(data)))
      self.send_header("Cache-Control", "no-store")
      self.send_header("X-Content-Type-Options", "nosniff")
      self.send_header("Content-Security-Policy", CSP)
      for key, value in (extra or {}).items():
        self.send_header(key, value)
      self.end_headers()
      if body:
        self.wfile.write(data)

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
      del format, args  # the run's own output stays readable

  return Handler


# The page may load nothing from elsewhere: no CDN, works offline.


CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
       "img-src 'self' blob:; connect-src 'self'")
