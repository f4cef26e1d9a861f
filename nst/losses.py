"""The paper's losses (Gatys et al. 2016, eqs. 1-7) as pure TensorFlow functions.

Activations have shape [B, H, W, N]: a batch of B images, N_l feature maps of
M_l = H * W positions each. Every function reduces over all but the batch axis and
returns one value per image, so a batch of independent problems costs one call.

Two conventions for normalising the per-layer losses:
- "paper", as printed in the paper: L_l = 1/2 sum((F-P)^2),
  E_l = 1/(4 N_l^2 M_l^2) sum((G-A)^2);
- "authors", as in the authors' own code: L_l = mean((F-P)^2) over the M_l N_l
  activations, E_l = mean((G/M_l - A/M_l)^2) over the N_l^2 Gram entries.
They differ by fixed factors per layer (see `authors_over_paper`), so the same
alpha/beta means different things under each.
"""

import tensorflow as tf

from nst.config import LOSS_CONVENTIONS as CONVENTIONS  # pylint: disable=unused-import


def authors_over_paper(m, n):
  """(content, style) factors f with loss_authors = f * loss_paper for a layer of
  M = m positions and N = n maps: content 2/(M N), style 4."""
  return 2.0 / (m * n), 4.0


def gram(features):
  """Gram matrices G = F^T F of activations [B, H, W, N] -> [B, N, N] (eq. 3)."""
  shape = tf.shape(features)
  flat = tf.reshape(features, [shape[0], shape[1] * shape[2], shape[3]])  # [B, M, N]
  return tf.linalg.matmul(flat, flat, transpose_a=True)


def content_layer_loss(features, target, convention="paper"):
  """1/2 * sum((F - P)^2) per image (eq. 1), or its mean under "authors";
  target [1 or B, H, W, N]."""
  squared = tf.square(features - target)
  if convention == "authors":
    return tf.reduce_mean(squared, axis=[1, 2, 3])
  return 0.5 * tf.reduce_sum(squared, axis=[1, 2, 3])


def style_layer_loss(features, target_gram, convention="paper"):
  """E_l = 1/(4 N_l^2 M_l^2) * sum((G - A)^2) per image (eq. 4), or
  mean((G/M - A/M)^2) under "authors"; target [1 or B, N, N]."""
  shape = tf.shape(features)
  m = tf.cast(shape[1] * shape[2], features.dtype)
  n = tf.cast(shape[3], features.dtype)
  squared_error = tf.reduce_sum(tf.square(gram(features) - target_gram), axis=[1, 2])
  scale = 1.0 if convention == "authors" else 4.0
  return squared_error / (scale * tf.square(n) * tf.square(m))


def total_variation(images):
  """Mean squared difference between neighbouring pixels, per image [B, H, W, C] -> [B]:
  (sum of (x[i+1,j]-x[i,j])^2 over vertical pairs + the same over horizontal pairs)
  / (H W C). A mean, so its weight means the same at every image size."""
  shape = tf.shape(images)
  vertical = tf.reduce_sum(tf.square(images[:, 1:] - images[:, :-1]), axis=[1, 2, 3])
  horizontal = tf.reduce_sum(tf.square(images[:, :, 1:] - images[:, :, :-1]),
                             axis=[1, 2, 3])
  return (vertical + horizontal) / tf.cast(shape[1] * shape[2] * shape[3], images.dtype)


def total_loss(features, content_targets, style_targets, content_weights,
               style_weights, alpha, beta, convention="paper", images=None,
               tv_weight=0.0):
  """alpha * L_content + beta * L_style (eq. 7), with every part that makes it up,
  plus tv_weight * total_variation(images) when tv_weight > 0.

  features: {layer: activations of the image being optimised}.
  content_targets: {layer: activations P_l of the photograph}.
  style_targets: {layer: Gram matrix A_l of the artwork}.
  content_weights, style_weights: {layer: weight}; w_l in eq. 5, and its content
    counterpart (the paper uses one content layer with weight 1).
  Returns a dict of per-image tensors [B]: total, content (= sum_l w_l * L_l),
  style (= sum_l w_l * E_l), tv (0 unless tv_weight > 0), and content_layers /
  style_layers: {layer: unweighted L_l or E_l}.
  """
  content_layers = {layer: content_layer_loss(features[layer], target, convention)
                    for layer, target in content_targets.items()}
  style_layers = {layer: style_layer_loss(features[layer], target, convention)
                  for layer, target in style_targets.items()}
  content = _weighted_sum(content_layers, content_weights)
  style = _weighted_sum(style_layers, style_weights)
  total = alpha * content + beta * style
  tv = tf.zeros_like(total)
  if tv_weight > 0:  # skipped at 0, so runs without it are bitwise what they were
    tv = total_variation(images)
    total = total + tv_weight * tv
  return {
      "total": total,
      "content": content,
      "style": style,
      "tv": tv,
      "content_layers": content_layers,
      "style_layers": style_layers,
  }


def _weighted_sum(per_layer, weights):
  if not per_layer:
    return tf.constant(0.0)
  return tf.add_n([weights[layer] * loss for layer, loss in per_layer.items()])
