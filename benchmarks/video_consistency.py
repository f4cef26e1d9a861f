"""Temporal consistency of nst-video against frames stylised independently (issue 25).

The clip has known motion: scikit-image's astronaut (public domain) under a camera
that pans and zooms in (nst.video.synthetic), so the true flow between any two frames
is known exactly. For each method:

- warping error: the mean over t = 2..N of the masked mean squared difference between
  stylised frame t and stylised frame t-1 warped onto it by the TRUE flow (mask: the
  pixels of frame t whose point is inside frame t-1), in (0-255)^2. The input frames'
  own warping error (resampling alone) is the floor.
- style loss per frame: the run's own style term (the preset's convention) at the end,
  and its ratio to the independent frame's.

Independent: each frame a plain run of the one run path (`nst.transfer`, the preset's
--init=content). nst-video: `nst.video.transfer`, Ruder et al.'s method, each
--temporal_weight given. Same preset, size and iterations for both. The optical flow
methods are also compared (DIS vs Farneback: endpoint error against the true flow).

  python benchmarks/video_consistency.py --frames=24 --size=128 --num_steps=100
Writes benchmarks/results/video_consistency.{json,md} and a strip of frames under out/.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
# pylint: disable=g-import-not-at-top,wrong-import-position
import common  # pylint: disable=wrong-import-position
from nst import image as image_lib
from nst import sheet as sheet_lib
from nst.video import flow as flow_lib
from nst.video import synthetic

HERE = os.path.dirname(os.path.abspath(__file__))
STYLE = os.path.join(HERE, "..", "..", "shared", "images", "style", "starry_night.jpg")


def warping_errors(frames, camera):
  """Per t >= 2: masked MSE of frame t against frame t-1 warped by the true flow."""
  errors = []
  for t in range(1, len(frames)):
    true = synthetic.true_flow(camera, t, t - 1)
    mask = flow_lib.inside(true)
    warped = flow_lib.warp(np.asarray(frames[t - 1], np.float32), true)
    diff = (np.asarray(frames[t], np.float64) - warped) ** 2
    errors.append(float(diff[mask].mean()))
  return errors


def flow_table(frames, camera):
  """Endpoint error (px) of each method against the true flow: known translations of
  a 128 px crop (integer and sub-pixel) and the clip's frame pairs."""
  photo = image_lib.to_rgb(__import__("skimage.data").data.astronaut())
  big = image_lib.resize(photo, (256, 256))
  inner = np.zeros((128, 128), bool)
  inner[8:-8, 8:-8] = True
  rows = []
  base = flow_lib.grid((128, 128, 2)) + np.float32([64, 64])
  for shift in ((3.0, -2.0), (2.5, 1.25), (6.3, -4.7)):
    a = flow_lib.sample(big, base)
    b = flow_lib.sample(big, base + np.float32(shift))  # b(x) = a(x + shift)
    true = np.broadcast_to(np.float32(shift), (128, 128, 2))
    row = {"case": f"translation {shift[0]:g},{shift[1]:g} px"}
    for method in flow_lib.METHODS:
      row[method] = flow_lib.endpoint_error(flow_lib.flow(b, a, method), true, inner)
    rows.append(row)
  row, seconds = {"case": f"the clip's {len(frames) - 1} pairs (mean)"}, {}
  for method in flow_lib.METHODS:
    errors, start = [], time.perf_counter()
    for t in range(1, len(frames)):
      true = synthetic.true_flow(camera, t, t - 1)
      errors.append(flow_lib.endpoint_error(flow_lib.flow(frames[t], frames[t - 1],
                                                          method),
                                            true, flow_lib.inside(true)))
    seconds[method] = (time.perf_counter() - start) / (len(frames) - 1)
    row[method] = float(np.mean(errors))
  rows.append(row)
  rows.append({"case": "ms per flow (the clip)",
               **{m: 1000 * s for m, s in seconds.items()}})
  return rows


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--frames", type=int, default=24)
  parser.add_argument("--size", type=int, default=128)
  parser.add_argument("--num_steps", type=int, default=100)
  parser.add_argument("--preset", default="default")
  parser.add_argument("--style", default=STYLE)
  parser.add_argument("--temporal_weights", default="1e-4",
                      help="comma list: one nst-video run each")
  parser.add_argument("--eval_mode", default="plain")
  parser.add_argument("--out", default=os.path.join(HERE, "..", "out", "video_bench"))
  parser.add_argument("--name", default="video_consistency")
  parser.add_argument("--no_independent", action="store_true",
                      help="reuse the independent frames of an earlier run in --out")
  args = parser.parse_args()

  import nst
  import nst.video
  import common
  frames, camera = synthetic.astronaut_clip(args.frames, args.size)
  options = dict(image_size=args.size, num_steps=args.num_steps,
                 eval_mode=args.eval_mode)
  os.makedirs(args.out, exist_ok=True)
  summary = {"frames": args.frames, "size": args.size, "num_steps": args.num_steps,
             "preset": args.preset, "style": os.path.basename(args.style),
             "cpu": common.describe_cpu(common.cpu_info()), "flow": flow_table(frames, camera),
             "input_warping_error": float(np.mean(warping_errors(frames, camera))),
             "methods": {}}

  def measure(name, images, styles, contents, seconds):
    errors = warping_errors(images, camera)
    summary["methods"][name] = {"warping_error": float(np.mean(errors)),
                                "warping_errors": errors, "style": styles,
                                "content": contents, "seconds": seconds}
    print(f"{name}: warping error {np.mean(errors):.1f}, mean style "
          f"{np.mean(styles):.4g}, {seconds:.0f} s", flush=True)

  independent_dir = os.path.join(args.out, "independent")
  os.makedirs(independent_dir, exist_ok=True)
  images, styles, contents, start = [], [], [], time.perf_counter()
  for t, frame in enumerate(frames, 1):
    path = os.path.join(independent_dir, f"frame_{t:05d}.png")
    if args.no_independent and os.path.isfile(path):
      with open(path[:-4] + ".json", encoding="utf-8") as f:
        record = json.load(f)
      images.append(image_lib.load_image(path))
    else:
      result = nst.transfer(frame, args.style, path, preset=args.preset,
                            overwrite=True, **options)
      record = result.record
      images.append(result.image.astype(np.float32))
    styles.append(record["result"]["losses"]["style"])
    contents.append(record["result"]["losses"]["content"])
    print(f"independent frame {t}/{len(frames)}: style {styles[-1]:.4g}", flush=True)
  measure("independent", images, styles, contents, time.perf_counter() - start)
  rows = {"independent": images}

  for weight in [float(w) for w in args.temporal_weights.split(",")]:
    name = f"nst-video temporal_weight={weight:g}"
    start = time.perf_counter()
    result = nst.video.transfer(
        frames, args.style, os.path.join(args.out, f"video_{weight:g}"),
        preset=args.preset, temporal_weight=weight, overwrite=True,
        log=lambda line: print(line, flush=True), **options)
    assert result.complete, result.message
    entries = result.record["frames"]
    measure(name, [f.astype(np.float32) for f in result.frames],
            [e["losses"]["style"] for e in entries],
            [e["losses"]["content"] for e in entries], time.perf_counter() - start)
    rows[name] = [f.astype(np.float32) for f in result.frames]

  base = summary["methods"]["independent"]
  lines = [f"# Temporal consistency: {args.frames} frames, {args.size} px, "
           f"{args.num_steps} iterations a frame, preset {args.preset}, "
           f"style {summary['style']}", "", f"CPU: {summary['cpu']}", "",
           f"Input frames' own warping error (resampling only): "
           f"{summary['input_warping_error']:.2f}", "",
           "| method | warping error | x lower than independent | style loss / "
           "independent's (mean, worst frame) | content loss / independent's (mean) "
           "| seconds |", "|---|---|---|---|---|---|"]
  for name, m in summary["methods"].items():
    ratio = np.array(m["style"]) / np.array(base["style"])
    content = np.array(m["content"]) / np.array(base["content"])
    m["style_ratio_mean"], m["style_ratio_max"] = float(ratio.mean()), float(ratio.max())
    m["lower"] = base["warping_error"] / m["warping_error"]
    lines.append(f"| {name} | {m['warping_error']:.1f} | {m['lower']:.2f}x | "
                 f"{ratio.mean():.3f}, {ratio.max():.3f} | {content.mean():.3f} | "
                 f"{m['seconds']:.0f} |")
  lines += ["", "Optical flow, endpoint error against the true flow (px):", "",
            "| case | " + " | ".join(flow_lib.METHODS) + " |",
            "|---|" + "---|" * len(flow_lib.METHODS)]
  for row in summary["flow"]:
    lines.append(f"| {row['case']} | " + " | ".join(f"{row[m]:.3f}"
                                                    for m in flow_lib.METHODS) + " |")
  common.write_results(args.name, summary, lines)
  strip(frames, rows, camera, os.path.join(args.out, "..", f"{args.name}_strip.png"))


def strip(frames, rows, camera, path, columns=6):
  """Frames at evenly spaced times: the input, each method's result, and each
  method's |frame t - frame t-1 warped| (x4, the flicker) below it."""
  picks = np.linspace(1, len(frames) - 1, columns).round().astype(int)
  grid, labels = [[frames[t] for t in picks]], ["input"]
  for name, images in rows.items():
    grid.append([images[t] for t in picks])
    labels.append(name.replace("nst-video ", "video ").replace("temporal_weight", "w"))
    change = []
    for t in picks:
      warped = flow_lib.warp(images[t - 1], synthetic.true_flow(camera, t, t - 1))
      change.append(np.clip(4 * np.abs(images[t] - warped), 0, 255))
    grid.append(change)
    labels.append("  |change| x4")
  sheet = sheet_lib.contact_sheet(grid, row_labels=labels,
                                  col_labels=[f"frame {t + 1}" for t in picks],
                                  min_cell_width=128)
  image_lib.save_image(os.path.abspath(path), sheet)
  print(f"strip: {os.path.abspath(path)}")


if __name__ == "__main__":
  main()
