"""training/architectures.py: the four U-Nets, fully convolutional, attention where the method puts it."""

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from landslide_mapper.training.architectures import ARCHITECTURES, build_model  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_every_architecture_is_fully_convolutional_for_any_band_count(architecture):
    model = build_model(architecture, bands=5, base_filters=4)
    for size in (32, 48):
        out = model(np.zeros((2, size, size, 5), np.float32), training=False)
        assert out.shape == (2, size, size, 1)
    assert model.layers[-1].activation.__name__ == "sigmoid"


def test_attention_sits_where_the_method_puts_it():
    def count(model, suffix):
        return sum(layer.name.endswith(suffix) for layer in model.layers)

    spatial = build_model("spatial", 4, 4)
    assert count(spatial, "_gate") == 8  # after each of 4 max-pools and 4 up-samplings
    assert sum(layer.name.startswith("enc_att") and layer.name.endswith("_gate") for layer in spatial.layers) == 4
    for arch in ("channel", "se"):
        model = build_model(arch, 4, 4)
        assert count(model, "_scale") == 5  # last encoder conv + 4 decoder skips
    assert count(build_model("unet", 4, 4), "_scale") == count(build_model("unet", 4, 4), "_gate") == 0


def test_a_dilated_bottleneck_sees_further_with_the_same_weights():
    """Dilating the bottleneck's convolutions keeps every weight's shape (a network starts
    from an undilated one's weights) and widens what a bottleneck cell sees from 140 px to
    268 (the whole network's receptive field: 200 to 328): a pixel 100 px beside a cell's
    pixels changes its features only in the dilated one."""
    import keras

    plain = build_model("unet", 1, 4)
    dilated = build_model("unet", 1, 4, bottleneck_dilations=(2, 4))
    assert [w.shape for w in plain.get_weights()] == [w.shape for w in dilated.get_weights()]
    dilated.set_weights(plain.get_weights())
    image = np.random.default_rng(0).normal(size=(1, 384, 384, 1)).astype(np.float32)
    far = image.copy()
    far[0, 200, 300] += 50.0  # bottleneck cell (12, 12) covers pixels 192-207

    def cell_change(model):
        features = keras.Model(model.inputs[0], model.get_layer("bottleneck_relu2").output)
        before, after = (features(x, training=False).numpy()[0, 12, 12] for x in (image, far))
        return float(np.abs(after - before).max())

    assert cell_change(plain) == 0.0
    assert cell_change(dilated) > 1e-3
