"""Training the method's U-Nets (TensorFlow/Keras 3) and exporting them to ONNX.

Run from the plugin folder: ``python -m training train|export ...``. TensorFlow is
imported only here, never by the plugin, so Detect runs without it.
"""
