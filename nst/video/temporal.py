"""Ruder et al.'s short-term temporal loss (GCPR 2016, eq. 5) as a pure TensorFlow
function; nst's losses.total_loss adds temporal_weight times it when a run is given
a temporal term (run.Prepared.temporal, optimize.Problem's `temporal`).

  L_temporal(x, w, c) = 1/D sum_k c_k (x_k - w_k)^2,   D = H W C,

x the image being optimised, w the previous stylised frame warped onto this one by
the optical flow, c the per-pixel consistency weights (0 where disoccluded or on a
motion boundary; nst.video.flow.consistency), the same for the three channels.
"""

import tensorflow as tf


def temporal_loss(images, target, weights):
  """1/D sum c (x - w)^2 per image: images [B, H, W, C], target [1 or B, H, W, C],
  weights [1 or B, H, W, 1] -> [B]."""
  shape = tf.shape(images)
  squared = tf.cast(weights, images.dtype) * tf.square(images - tf.cast(target,
                                                                        images.dtype))
  size = tf.cast(shape[1] * shape[2] * shape[3], images.dtype)
  return tf.reduce_sum(squared, axis=[1, 2, 3]) / size
