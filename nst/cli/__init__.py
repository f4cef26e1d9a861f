"""The command-line programs (absl flags live only here): nst (main.py), nst-batch,
nst-fetch-weights, nst-vgg-factors, and the --serve flags they share."""

import os

# Before TensorFlow loads (its C++ logs); the library sets it too when it imports TF.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
