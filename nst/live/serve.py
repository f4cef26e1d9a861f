"""Watch a run in the browser: a small read-only page served from memory (stdlib only).

`Live` holds what the page shows: the latest iterate, the loss history, the run's
settings and, for a batch, a table of jobs. The run's callback hands it every iterate
with `update`, which only stores a reference and a few floats: the PNG is encoded
lazily, in the server's thread, at most once per `png_interval` seconds and once per
image, so a run nobody watches pays nothing and one that is watched pays little.

The server answers GET (and HEAD) on a fixed set of routes and nothing else: it reads
no file, so a path that is not a route (`/../etc/passwd` included) is 404, and any
other method is 405. It listens on 127.0.0.1 unless a host is given explicitly, and
runs in daemon threads, so it dies with the run.
"""

import dataclasses
import errno
import http.server
import io
import ipaddress
import json
import math
import socket
import socketserver
import sys
import threading
import time
import urllib.parse

import numpy as np
from PIL import Image

from nst import image as image_lib
from nst import interrupts
from nst.errors import UserError
from nst.runs import records
from nst.runs import single as run_lib

LOOPBACK = "127.0.0.1"
PNG_INTERVAL = 0.5  # seconds between encodings: at most two a second, whoever polls
THUMBNAIL = 96      # px, longest side of a batch's thumbnails
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


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
      self._run = {"title": title, "settings": _plain(settings or {}),
                   "alpha": alpha, "beta": beta, "tv_weight": tv_weight,
                   "layer_weights": _plain(layer_weights or {"content": {},
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
      self._jobs = _plain([dict(job) for job in jobs])
      self._batch = None if done is None else _plain({"done": done,
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
    return _plain(state)

  def history(self):
    """The loss history and the weights its curves are drawn with."""
    with self._lock:
      run, history = self._run, list(self._history)
      num_steps = self._latest.num_steps if self._latest is not None else None
      version = self._image_version
    return _plain({"image_version": version, "num_steps": num_steps,
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
      raise UserError(f"--serve_port must be 0 (a free port) or 1-65535, got {port}")
    if not host:
      raise UserError("--serve_host: give an address to listen on (127.0.0.1, the "
                      "default, keeps the page on this machine)")
    try:
      family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except (socket.gaierror, UnicodeError) as e:
      raise UserError(f"--serve_host: cannot resolve {host!r} ({e}); give an address "
                      "of this machine, e.g. 127.0.0.1") from None
    try:
      self._server = _Server(family, (host, port), _handler(self, is_loopback(host)))
    except PermissionError:
      raise UserError(f"--serve_port: port {port} needs privileges; choose one above "
                      "1023, or 0 for a free port") from None
    except OSError as e:
      if e.errno == errno.EADDRINUSE:
        raise UserError(f"--serve_port: port {port} on {host} is in use; choose "
                        "another, or 0 for a free port") from None
      raise UserError(f"--serve_host: cannot listen on {host!r} ({e.strerror}); give "
                      "an address of this machine, e.g. 127.0.0.1") from None
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


def begin_run(live, prepared, title=None):
  """live.begin for a prepared run (nst.run.Prepared): its settings, curve weights,
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


def _plain(value):
  """JSON-safe values: numbers that are not finite become null (JSON has no NaN)."""
  if isinstance(value, dict):
    return {str(k): _plain(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_plain(v) for v in value]
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

# Fixed sizes, so that the page looks the same everywhere (and the browser test knows
# where the image and the curves are): header 56 px high; the image in a 384x384 box at
# (16, 72); the curves on a 560x384 canvas at (416, 72).
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>nst</title>
<style>
body{margin:0;font:14px/1.4 system-ui,sans-serif;color:#222;background:#fafafa}
header{height:56px;box-sizing:border-box;padding:8px 16px;background:#263238;color:#fff}
header b{font-size:16px}#status{font-size:13px;opacity:.9}
main{display:flex;gap:16px;padding:16px;align-items:flex-start}
#imagebox{width:384px;height:384px;flex:none;background:#e0e0e0;display:flex;
align-items:center;justify-content:center}
#image{max-width:384px;max-height:384px;width:384px;height:384px;object-fit:contain;
image-rendering:pixelated}
#plot{flex:none}canvas{display:block;background:#fff;border:0}
#legend span{display:inline-block;margin-right:12px;font-size:12px}
#legend i{display:inline-block;width:18px;height:3px;vertical-align:middle;margin-right:4px}
section{padding:0 16px 16px}table{border-collapse:collapse;font-size:12px}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}th{background:#eee}
</style></head><body>
<header><b id="title">nst</b><div id="status">waiting for the run...</div></header>
<main>
<div id="imagebox"><img id="image" alt="current image" hidden></div>
<div id="plot"><canvas id="curves" width="560" height="384"></canvas>
<div id="legend"></div>
<label><input type="checkbox" id="layers"> per layer</label></div>
</main>
<section id="jobsbox" hidden><h3>Jobs</h3><table id="jobs"></table></section>
<section><h3>Settings</h3><table id="settings"></table></section>
<script>
"use strict";
const COLOURS={"total":"#000000","alpha * content":"#1f77b4","beta * style":"#d62728",
  "tv_weight * tv":"#2ca02c"};
const LAYER_COLOURS=["#9467bd","#8c564b","#e377c2","#7f7f7f","#bcbd22","#17becf",
  "#ff7f0e","#aec7e8","#98df8a","#c5b0d5"];
let lost=false,jobsVersion=-1,version=-1,imageVersion=-1,historyVersion=-1,settingsVersion=-1,history=null;
const $=id=>document.getElementById(id);
function duration(s){if(s===null||s===undefined)return "?";s=Math.round(s);
  const p=n=>String(n).padStart(2,"0");
  return Math.floor(s/3600)+":"+p(Math.floor(s/60)%60)+":"+p(s%60);}
function cell(row,text,head){const c=document.createElement(head?"th":"td");
  c.textContent=text===null||text===undefined?"":(typeof text==="object"?
  JSON.stringify(text):String(text));row.appendChild(c);}
function table(el,rows,columns){el.textContent="";const h=el.insertRow();
  columns.forEach(c=>cell(h,c,true));
  rows.forEach(r=>{const row=el.insertRow();columns.forEach(c=>{
    if(c==="image"&&r[c]){const td=document.createElement("td"),img=new Image();
      img.src=r[c];img.alt=r.job||"";td.appendChild(img);row.appendChild(td);}
    else cell(row,r[c]);});});}
async function get(path){const r=await fetch(path,{cache:"no-store"});
  if(!r.ok)throw new Error(path+": "+r.status);return r;}
async function poll(){
  try{
    const s=await (await get("state.json")).json();
    lost=false;
    // Also when only the image lags: the server may have sent an older PNG.
    if(s.version!==version||(s.started&&s.image_version!==imageVersion)){
      await show(s);version=s.version;}
    setTimeout(poll,s.finished?2000:500);
  }catch(e){
    if(!lost)$("status").textContent+=" (the run has ended: the page is no longer served)";
    lost=true;
    version=-1;setTimeout(poll,5000);
  }
}
async function show(s){
  $("title").textContent=s.title;document.title=s.title;
  let text=s.started?("iteration "+s.iteration+"/"+s.num_steps+" \\u00b7 evaluations "+
    s.evaluations+" \\u00b7 elapsed "+duration(s.elapsed)+" \\u00b7 eta "+duration(s.eta)+
    " \\u00b7 total loss "+(s.losses.total===null?"?":s.losses.total.toExponential(4)))
    :"building the network...";
  if(s.finished)text+=" \\u00b7 finished ("+s.stopped+")";
  if(s.batch)text="jobs "+s.batch.done+"/"+s.batch.total+" \\u00b7 batch eta "+
    duration(s.batch.eta)+" \\u00b7 "+text;
  $("status").textContent=text;
  if(s.settings_version!==settingsVersion){
    const d=await (await get("settings.json")).json();settingsVersion=s.settings_version;
    table($("settings"),Object.entries(d.settings).map(([k,v])=>({name:k,value:v})),
      ["name","value"]);}
  if(s.started&&s.image_version!==historyVersion){
    history=await (await get("history.json")).json();
    historyVersion=history.image_version;draw();}
  if(s.started&&s.image_version!==imageVersion)await loadImage();
  // Only when the table changed: each render fetches its thumbnails again.
  if(s.jobs&&s.jobs_version!==jobsVersion){jobsVersion=s.jobs_version;
    $("jobsbox").hidden=false;const cols=[];
    s.jobs.forEach(j=>Object.keys(j).forEach(k=>{if(!cols.includes(k))cols.push(k);}));
    table($("jobs"),s.jobs,cols);}
}
async function loadImage(){
  const r=await get("image.png");
  // The server encodes at a bounded rate: the PNG may be older than the state.
  imageVersion=Number(r.headers.get("X-Image-Version"));
  const url=URL.createObjectURL(await r.blob());const img=$("image");
  await new Promise(done=>{img.onload=img.onerror=done;img.src=url;});
  if(img.dataset.url)URL.revokeObjectURL(img.dataset.url);
  img.dataset.url=url;img.hidden=false;
}
function series(){
  const h=history.history,out={};
  out["total"]=h.map(e=>e.total);
  out["alpha * content"]=h.map(e=>history.alpha*e.content);
  out["beta * style"]=h.map(e=>history.beta*e.style);
  if(history.tv_weight>0)out["tv_weight * tv"]=h.map(e=>history.tv_weight*e.tv);
  if($("layers").checked){
    const w=history.layer_weights;
    for(const [kind,scale] of [["content",history.alpha],["style",history.beta]])
      for(const layer of Object.keys(w[kind]||{}))
        out[kind+" "+layer]=h.map(e=>scale*w[kind][layer]*
          ((e[kind+"_layers"]||{})[layer]??NaN));
  }
  return out;
}
function draw(){
  if(!history)return;
  const c=$("curves"),g=c.getContext("2d"),W=c.width,H=c.height;
  const L=64,R=12,T=12,B=36,x0=L,x1=W-R,y0=H-B,y1=T;
  g.clearRect(0,0,W,H);g.fillStyle="#fff";g.fillRect(0,0,W,H);
  const all=series(),its=history.history.map(e=>e.iteration);
  const vals=Object.values(all).flat().filter(v=>v>0&&isFinite(v));
  g.strokeStyle="#888";g.lineWidth=1;g.strokeRect(x0+.5,y1+.5,x1-x0,y0-y1);
  if(!vals.length)return;
  const lo=Math.floor(Math.log10(Math.min(...vals)));
  const hi=Math.max(Math.ceil(Math.log10(Math.max(...vals))),lo+1);
  const last=Math.max(history.num_steps||0,...its,1);
  const X=i=>x0+i/last*(x1-x0),Y=v=>y0-(Math.log10(v)-lo)/(hi-lo)*(y0-y1);
  g.fillStyle="#444";g.font="11px sans-serif";g.textAlign="right";
  const step=Math.max(1,Math.floor((hi-lo)/8));
  for(let d=lo;d<=hi;d+=step){const y=Y(Math.pow(10,d));
    g.fillText("1e"+d,x0-6,y+4);g.fillRect(x0-4,Math.round(y),4,1);}
  g.textAlign="center";
  for(let k=0;k<=4;k++){const i=Math.round(last*k/4);g.fillText(String(i),X(i),y0+16);}
  g.fillText("iteration",(x0+x1)/2,H-4);
  const legend=$("legend");legend.textContent="";let n=0;
  // The total is drawn last and thinner: when one term dominates (the default's small
  // alpha) the total lies on that term's curve, and both must stay visible.
  const names=[...Object.keys(all).filter(k=>k!=="total"),"total"];
  for(const name of names){
    const values=all[name];
    const colour=COLOURS[name]||LAYER_COLOURS[n++%LAYER_COLOURS.length];
    g.strokeStyle=colour;g.lineWidth=name==="total"?1.5:COLOURS[name]?3:1.5;
    g.setLineDash(COLOURS[name]?[]:[5,3]);g.fillStyle=colour;
    // Runs of drawable (positive, finite) values: a line, or a dot for a lone one.
    const runs=[[]];values.forEach((v,k)=>{if(v>0&&isFinite(v))
      runs[runs.length-1].push([X(its[k]),Y(v)]);else runs.push([]);});
    for(const r of runs){if(r.length===1){g.beginPath();g.arc(r[0][0],r[0][1],3,0,7);
      g.fill();}else if(r.length>1){g.beginPath();g.moveTo(...r[0]);
      r.slice(1).forEach(p=>g.lineTo(...p));g.stroke();}}
    const item=document.createElement("span"),swatch=document.createElement("i");
    swatch.style.background=colour;item.appendChild(swatch);
    item.appendChild(document.createTextNode(name));
    if(name==="total")legend.prepend(item);else legend.appendChild(item);
  }
  g.setLineDash([]);
}
$("layers").addEventListener("change",draw);
poll();
</script></body></html>
"""
