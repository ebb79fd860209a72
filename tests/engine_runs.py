"""The streaming engine run as a test reads it back: predict_raster's rows collected into
one array the size of the raster."""

import numpy as np
from landslide_mapper.core.engine.streaming import WindowSettings, predict_raster


def run_predict(model, inputs, window, overlap, batch=4):
    rows = np.full((inputs.grid.height, inputs.grid.width), -1.0, np.float32)

    def collect(row0, values, valid):
        rows[row0 : row0 + values.shape[0]] = values

    predict_raster(inputs, model.predict, WindowSettings(window, overlap, batch), collect)
    return rows
