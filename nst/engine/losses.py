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

from nst.engine.choices import LOSS_CONVENTIONS as CONVENTIONS  # pylint: disable=unused-import


def authors_over_paper(m, n):
  """(content, style) factors f with loss_authors = f * loss_paper for a layer of
  M = m positions and N = n maps: content 2/(M N), style 4."""
  return 2.0 / (m * n), 4.0


def gram(features):
  """Gram matrices G = F^T F of activations [B, H, W, N] -> [B, N, N] (eq. 3)."""
  shape = tf.shape(features)
  flat = tf.reshape(features, [shape[0], shape[1] * shape[2], shape[3]])  # [B, M, N]
  return tf.linalg.matmul(flat, flat, transpose_a=True)


def guided_gram(features, masks):
  """Guided Gram matrices (Gatys et al. 2017, section 4) of activations [B, H, W, N]
  for R guidance masks [R, H, W] at the layer's resolution -> [B, R, N, N]:

    G_r = M_l / sum(m_r^2) * (F * m_r)^T (F * m_r),

  the Gram matrix of the features weighted by the mask, normalised as the authors'
  code does (their guides are divided by sqrt(sum(m^2) / M_l)): independent of the
  mask's scale and of the region's area, and for an all-ones mask exactly `gram`, so
  that style_layer_loss's normalisation (paper or authors) applies unchanged. An
  all-zero mask gives zeros (its region is absent at this layer; see spatial.py).
  """
  shape = tf.shape(features)
  positions = shape[1] * shape[2]
  flat = tf.reshape(features, [shape[0], 1, positions, shape[3]])   # [B, 1, M, N]
  m = tf.reshape(tf.cast(masks, features.dtype), [1, -1, positions, 1])  # [1, R, M, 1]
  weighted = flat * m                                                # [B, R, M, N]
  grams = tf.linalg.matmul(weighted, weighted, transpose_a=True)     # [B, R, N, N]
  scale = tf.math.divide_no_nan(tf.cast(positions, features.dtype),
                                tf.reduce_sum(tf.square(m), axis=[2, 3]))  # [1, R]
  return grams * scale[:, :, None, None]


def guided_style_layer_loss(features, masks, region_weights, target_grams,
                            convention="paper"):
  """sum_r w_r E_l^r per image: each region's style loss (style_layer_loss's
  normalisation under `convention`) between the guided Gram matrices of `features`
  [B, H, W, N] under `masks` [R, H, W] and `target_grams` [1 or B, R, N, N], the
  artworks' guided Gram matrices; `region_weights` [R] (0 skips a region)."""
  shape = tf.shape(features)
  m = tf.cast(shape[1] * shape[2], features.dtype)
  n = tf.cast(shape[3], features.dtype)
  squared_error = tf.reduce_sum(tf.square(guided_gram(features, masks) - target_grams),
                                axis=[2, 3])                        # [B, R]
  scale = 1.0 if convention == "authors" else 4.0
  per_region = squared_error / (scale * tf.square(n) * tf.square(m))
  return tf.reduce_sum(per_region * tf.cast(region_weights, features.dtype)[None],
                       axis=1)


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


def temporal_loss(images, target, weights):
  """Ruder et al.'s short-term temporal loss (GCPR 2016, eq. 5), per image:

    L_temporal(x, w, c) = 1/D sum_k c_k (x_k - w_k)^2,   D = H W C,

  x the image being optimised (images [B, H, W, C]), w the previous stylised frame
  warped onto this one by the optical flow (target [1 or B, H, W, C]), c the
  per-pixel consistency weights (weights [1 or B, H, W, 1]: 0 where disoccluded or on
  a motion boundary, nst.video.flow.consistency), the same for the three channels.
  Returns [B]."""
  shape = tf.shape(images)
  squared = tf.cast(weights, images.dtype) * tf.square(images - tf.cast(target,
                                                                        images.dtype))
  size = tf.cast(shape[1] * shape[2] * shape[3], images.dtype)
  return tf.reduce_sum(squared, axis=[1, 2, 3]) / size


def total_loss(features, content_targets, style_targets, content_weights,
               style_weights, alpha, beta, convention="paper", images=None,
               tv_weight=0.0, guides=None, temporal=None):
  """alpha * L_content + beta * L_style (eq. 7), with every part that makes it up,
  plus tv_weight * total_variation(images) when tv_weight > 0, plus
  temporal_weight * temporal_loss when `temporal` is given.

  features: {layer: activations of the image being optimised}.
  content_targets: {layer: activations P_l of the photograph}.
  style_targets: {layer: Gram matrix A_l of the artwork}, or with `guides` the
    artworks' guided Gram matrices [1, R, N, N], one per region.
  content_weights, style_weights: {layer: weight}; w_l in eq. 5, and its content
    counterpart (the paper uses one content layer with weight 1).
  guides: None, or {style layer: (masks [R, H_l, W_l], region weights [R])} for
    spatial control: the style loss of a layer is then guided_style_layer_loss.
  temporal: None, or (target [1, H, W, 3], weights [1, H, W, 1], temporal_weight):
    an extra pixel-space term (video, Ruder et al. 2016; temporal_loss).
  Returns a dict of per-image tensors [B]: total, content (= sum_l w_l * L_l),
  style (= sum_l w_l * E_l), tv (0 unless tv_weight > 0), temporal (only when
  `temporal` is given), and content_layers / style_layers: {layer: unweighted L_l
  or E_l}.
  """
  content_layers = {layer: content_layer_loss(features[layer], target, convention)
                    for layer, target in content_targets.items()}
  if guides:
    style_layers = {layer: guided_style_layer_loss(features[layer], *guides[layer],
                                                   target, convention)
                    for layer, target in style_targets.items()}
  else:
    style_layers = {layer: style_layer_loss(features[layer], target, convention)
                    for layer, target in style_targets.items()}
  content = _weighted_sum(content_layers, content_weights)
  style = _weighted_sum(style_layers, style_weights)
  total = alpha * content + beta * style
  tv = tf.zeros_like(total)
  if tv_weight > 0:  # skipped at 0, so runs without it are bitwise what they were
    tv = total_variation(images)
    total = total + tv_weight * tv
  terms = {}
  if temporal is not None:  # absent otherwise, so other runs are what they were
    target, weights, temporal_weight = temporal
    terms["temporal"] = temporal_loss(images, target, weights)
    total = total + temporal_weight * terms["temporal"]
  return {
      "total": total,
      "content": content,
      "style": style,
      "tv": tv,
      **terms,
      "content_layers": content_layers,
      "style_layers": style_layers,
  }


def _weighted_sum(per_layer, weights):
  if not per_layer:
    return tf.constant(0.0)
  return tf.add_n([weights[layer] * loss for layer, loss in per_layer.items()])
