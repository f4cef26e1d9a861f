"""Peak host memory of a run, estimated before it starts, and what this machine has.

Calibrated on TensorFlow 2.21 on CPU (peak resident memory of a run with the default
layers, measured with getrusage): 1.21 GB at 256x256, 1.90 GB at 512x512, 4.35 GB at
1024x1024. That is about 1.1 GB of runtime and weights plus ~1.3x the forward
activations of every layer up to the deepest one (kept for the backward pass) plus the
L-BFGS vectors.

XLA (--eval_mode=xla, and --eval_mode=auto while it times XLA) needs more: its
compiled program keeps its own buffers. Measured (2026-12-01, Zen 5, the Tübingen
photograph at 1024x768, 3 iterations): peak 3.96 GB plain, 5.09 GB xla, 5.28 GB auto
timing both; a 512:50,1024:20,2048:5 pyramid whose last level was timed both ways
peaked at 17.57 GB. XLA_FACTOR scales the part that grows with the image.
"""

from nst.engine import vgg

RUNTIME_BYTES = 1.1e9         # TensorFlow, the weights and the traced graphs
ACTIVATION_FACTOR = 1.3       # measured peak / forward activations
LBFGS_VECTORS = 6             # position, gradient and line-search temporaries
SAFETY = 1.2                  # margin on everything that grows with the image
XLA_FACTOR = 1.35             # XLA's peak / plain's, of what grows with the image


def estimate_bytes(shape, layers, num_correction_pairs, eval_mode="plain"):
  """Estimated peak memory (bytes) of optimising an image of `shape` (H, W), the
  loss evaluated as `eval_mode` ("plain", or "xla": also what timing XLA needs)."""
  height, width = shape[:2]
  deepest = max(vgg.LAYER_NAMES.index(layer) for layer in layers)
  activations = 0
  for layer in vgg.LAYER_NAMES[:deepest + 1]:
    stride = 2 ** vgg.downsampling(layer)
    activations += (height // stride) * (width // stride) * vgg.channels(layer) * 4
  pixels = height * width * 3 * 4
  lbfgs = (2 * num_correction_pairs + LBFGS_VECTORS) * pixels
  grows = SAFETY * (ACTIVATION_FACTOR * activations + lbfgs)
  return RUNTIME_BYTES + (XLA_FACTOR if eval_mode == "xla" else 1.0) * grows


def proc_bytes(path, key):
  """A "Key: N kB" line of a Linux /proc file (meminfo, self/status) in bytes, or None
  where the file or the key is missing."""
  try:
    with open(path, encoding="ascii") as f:
      for line in f:
        if line.startswith(key + ":"):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  return None


def available_bytes():
  """Memory the system can still give (MemAvailable), or None where unknown."""
  return proc_bytes("/proc/meminfo", "MemAvailable")


def largest_fitting_side(shape, layers, num_correction_pairs, available,
                         eval_mode="plain"):
  """The largest longest side (px) at `shape`'s aspect whose estimate fits."""
  height, width = shape[:2]
  low, high = 0, max(height, width)
  while low < high:
    side = (low + high + 1) // 2
    scale = side / max(height, width)
    scaled = (max(1, round(height * scale)), max(1, round(width * scale)))
    if estimate_bytes(scaled, layers, num_correction_pairs, eval_mode) <= available:
      low = side
    else:
      high = side - 1
  return low
