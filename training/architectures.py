"""The method's four U-Nets, built on one skeleton (Keras 3).

All share a 4-level encoder (two 3x3 conv + BN + ReLU per level, 2x2 max-pool), a
bottleneck, a decoder of 2x2 transposed convolutions, concatenated skips and the same
conv blocks, and a 1x1 conv + sigmoid head. They differ only in where attention goes:

- ``unet``: none.
- ``channel``: channel-wise attention (average- and max-pooled descriptors through a
  shared MLP, CBAM-style) after the last encoder convolution and on every decoder skip.
- ``se``: squeeze-and-excitation (average-pooled descriptor, bottleneck MLP) at the
  same places.
- ``spatial``: dual-path spatial attention A(x, s) = sigmoid(W_q Q(x) + W_k K(s)), with
  ReLU inside (Q, K: 1x1 convolutions; the sum goes through ReLU and a 1x1 conv to one
  map, then a sigmoid), after every max-pool in the encoder (x = s = the pooled map) and
  after every up-sampling in the decoder (x = the up-sampled map, s = the skip it gates).

Inputs are NHWC with any H, W that are multiples of 16 and any number of bands.

Optionally (``bottleneck_dilations``) the bottleneck's two convolutions are dilated: the
same weights (a network can start from an undilated one's) see further, so the receptive
field covers a 256-px window (328 px with (2, 4) instead of 200; the issue's "wider
receptive field" lever) at no cost in weights or operations.

Optionally (``presence=True``) a presence head on the bottleneck answers "does this
window hold a landslide?" (global average + max pooling, a dense sigmoid): the context a
pixel decoder lacks when bare fields, roads and roofs look like fresh scars. It is
trained jointly with the map (see training/campaign.py) and, in the exported graph, scales the
window's probability map (:func:`gated_model`), so Detect runs it with no code change.
"""

from __future__ import annotations

import keras
from keras import layers

ARCHITECTURES = ("unet", "channel", "se", "spatial")
FULL_NAMES = {
    "unet": "unet",
    "channel": "channel_attention_unet",
    "se": "squeeze_excitation_unet",
    "spatial": "spatial_attention_unet",
}
LEVELS = 4


def conv_block(x, filters: int, name: str, dilations: tuple[int, int] = (1, 1)):
    for i, dilation in zip((1, 2), dilations):
        x = layers.Conv2D(filters, 3, padding="same", dilation_rate=dilation, use_bias=False, name=f"{name}_conv{i}")(x)
        x = layers.BatchNormalization(name=f"{name}_bn{i}")(x)
        x = layers.ReLU(name=f"{name}_relu{i}")(x)
    return x


def channel_attention(x, name: str, reduction: int = 8):
    """CBAM channel attention: sigmoid(MLP(avgpool) + MLP(maxpool)) scales each channel."""
    channels = x.shape[-1]
    hidden = layers.Dense(max(channels // reduction, 4), activation="relu", name=f"{name}_mlp1")
    out = layers.Dense(channels, name=f"{name}_mlp2")
    avg = out(hidden(layers.GlobalAveragePooling2D(name=f"{name}_avg")(x)))
    mx = out(hidden(layers.GlobalMaxPooling2D(name=f"{name}_max")(x)))
    weights = layers.Activation("sigmoid", name=f"{name}_sigmoid")(layers.Add(name=f"{name}_add")([avg, mx]))
    weights = layers.Reshape((1, 1, channels), name=f"{name}_reshape")(weights)
    return layers.Multiply(name=f"{name}_scale")([x, weights])


def squeeze_excitation(x, name: str, reduction: int = 8):
    """Squeeze-and-excitation (Hu et al., 2018): GAP -> FC-ReLU -> FC-sigmoid scales channels."""
    channels = x.shape[-1]
    s = layers.GlobalAveragePooling2D(name=f"{name}_squeeze")(x)
    s = layers.Dense(max(channels // reduction, 4), activation="relu", name=f"{name}_fc1")(s)
    s = layers.Dense(channels, activation="sigmoid", name=f"{name}_fc2")(s)
    s = layers.Reshape((1, 1, channels), name=f"{name}_reshape")(s)
    return layers.Multiply(name=f"{name}_scale")([x, s])


def spatial_attention(x, skip, name: str):
    """Dual-path spatial attention gate: skip * sigmoid(psi(relu(W_q x + W_k skip)))."""
    inter = max(skip.shape[-1] // 2, 1)
    q = layers.Conv2D(inter, 1, name=f"{name}_query")(x)
    k = layers.Conv2D(inter, 1, name=f"{name}_key")(skip)
    a = layers.ReLU(name=f"{name}_relu")(layers.Add(name=f"{name}_add")([q, k]))
    a = layers.Conv2D(1, 1, activation="sigmoid", name=f"{name}_psi")(a)
    return layers.Multiply(name=f"{name}_gate")([skip, a])


def build_model(architecture: str, bands: int, base_filters: int = 32, presence: bool = False,
                bottleneck_dilations: tuple[int, int] = (1, 1)) -> keras.Model:
    """The U-Net; with ``presence`` its outputs are [probability map, presence score]."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture '{architecture}'; choose one of {', '.join(ARCHITECTURES)}")
    inputs = keras.Input((None, None, bands), name="input")
    x, skips = inputs, []
    for level in range(LEVELS):
        x = conv_block(x, base_filters * 2**level, f"enc{level}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"pool{level}")(x)
        if architecture == "spatial":
            x = spatial_attention(x, x, f"enc_att{level}")
    x = conv_block(x, base_filters * 2**LEVELS, "bottleneck", tuple(bottleneck_dilations))
    if architecture == "channel":
        x = channel_attention(x, "bottleneck_att")
    elif architecture == "se":
        x = squeeze_excitation(x, "bottleneck_att")
    bottleneck = x
    for level in reversed(range(LEVELS)):
        filters = base_filters * 2**level
        x = layers.Conv2DTranspose(filters, 2, strides=2, name=f"up{level}")(x)
        skip = skips[level]
        if architecture == "channel":
            skip = channel_attention(skip, f"skip_att{level}")
        elif architecture == "se":
            skip = squeeze_excitation(skip, f"skip_att{level}")
        elif architecture == "spatial":
            skip = spatial_attention(x, skip, f"dec_att{level}")
        x = layers.Concatenate(name=f"concat{level}")([x, skip])
        x = conv_block(x, filters, f"dec{level}")
    outputs = layers.Conv2D(1, 1, activation="sigmoid", name="probability")(x)
    if presence:
        pooled = layers.Concatenate(name="presence_pool")([
            layers.GlobalAveragePooling2D(name="presence_avg")(bottleneck),
            layers.GlobalMaxPooling2D(name="presence_max")(bottleneck)])
        score = layers.Dense(1, activation="sigmoid", name="presence")(pooled)
        return keras.Model(inputs, [outputs, score], name=FULL_NAMES[architecture])
    return keras.Model(inputs, outputs, name=FULL_NAMES[architecture])


def has_presence_head(model: keras.Model) -> bool:
    return len(model.outputs) == 2


def gated_model(model: keras.Model) -> keras.Model:
    """One output: the probability map scaled by the window's presence score (the model
    itself when it has no presence head). Shares the model's layers and weights."""
    if not has_presence_head(model):
        return model
    probability, score = model.outputs
    gate = layers.Reshape((1, 1, 1), name="presence_gate")(score)
    gated = layers.Multiply(name="gated_probability")([probability, gate])
    return keras.Model(model.inputs[0], gated, name=model.name)


def pixel_model(model: keras.Model) -> keras.Model:
    """One output: the probability map alone (the presence head ignored), for measuring
    what the gate adds."""
    return keras.Model(model.inputs[0], model.outputs[0], name=model.name) if has_presence_head(model) else model
