"""Outputs written all or nothing, and never by two runs at once."""

import os

import pytest


def test_two_runs_cannot_write_the_same_output_at_once(tmp_path):
    """The second run aiming at an output the first is still writing stops at once with a
    plain message (no mix of both runs' files); once the first is done the path is free,
    and a lock left by a crashed run is taken over."""
    import subprocess

    from landslide_mapper.core.io.outputs import AtomicOutputs, OutputError

    final = str(tmp_path / "landslides.gpkg")
    with AtomicOutputs() as first:
        open(first.temporary(final), "w").write("first")
        with AtomicOutputs() as second:
            with pytest.raises(OutputError, match="Another run is writing .*landslides.gpkg right now"):
                second.temporary(final)
        first.commit()
    assert open(final).read() == "first"
    assert sorted(os.listdir(tmp_path)) == ["landslides.gpkg"]  # no lock left behind
    dead = subprocess.Popen(["true"])
    dead.wait()  # a process id that no longer runs
    (tmp_path / ".landslides.gpkg.lock").write_text(str(dead.pid))
    with AtomicOutputs() as third:
        open(third.temporary(final), "w").write("third")
        third.commit()
    assert open(final).read() == "third" and sorted(os.listdir(tmp_path)) == ["landslides.gpkg"]


def test_value_rasters_write_each_channel_to_its_own_file(tmp_path):
    """The engine's rows of (probability, spread) become two float32 GeoTIFFs (tiled,
    DEFLATE), nodata where the input was invalid; one channel's rows come without the
    channel axis."""
    import numpy as np
    from landslide_mapper.core.io.outputs import VALUES_NODATA, ValueRasters
    from landslide_mapper.core.io.readers import GdalReader, Grid
    from osgeo import gdal

    grid = Grid(5, 4, (440000.0, 1.0, 0.0, 3020000.0, 0.0, -1.0), "")
    values = np.arange(2 * 4 * 5, dtype=np.float32).reshape(2, 4, 5)
    valid = np.ones((4, 5), bool)
    valid[1, 2] = False
    paths = [str(tmp_path / "probability.tif"), str(tmp_path / "spread.tif")]
    with ValueRasters(paths, grid) as rasters:
        rasters.write_rows(0, values[:, :3], valid[:3])
        rasters.write_rows(3, values[:, 3:], valid[3:])
    with ValueRasters([str(tmp_path / "one.tif")], grid) as one:
        one.write_rows(0, values[0], valid)
    for path, expected in zip([*paths, str(tmp_path / "one.tif")], [values[0], values[1], values[0]]):
        written, written_valid = GdalReader(path).read([1], 0, 0, 5, 4)
        assert np.array_equal(written_valid, valid) and np.array_equal(written[0][valid], expected[valid])
        dataset = gdal.Open(path)  # held: the band dies with it
        band = dataset.GetRasterBand(1)
        assert band.DataType == gdal.GDT_Float32 and band.GetNoDataValue() == VALUES_NODATA
        # tiled and DEFLATE-compressed: the compression every GIS reads (not ZSTD or LERC)
        assert dataset.GetMetadataItem("COMPRESSION", "IMAGE_STRUCTURE") == "DEFLATE"
        assert band.GetBlockSize() == [256, 256]


def test_writers_opened_as_one_close_those_already_open_when_one_fails(tmp_path, monkeypatch):
    """Detect's rasters and the engine's value rasters open their files as one: a file that
    cannot be created leaves none of the others open (they are then removed)."""
    import numpy as np
    from landslide_mapper.core.io.outputs import GeoTiffWriter, GeoTiffWriters
    from landslide_mapper.core.io.readers import Grid

    closed, close = [], GeoTiffWriter.close
    monkeypatch.setattr(GeoTiffWriter, "close", lambda writer: (closed.append(writer.path), close(writer)))
    grid = Grid(5, 4, (440000.0, 1.0, 0.0, 3020000.0, 0.0, -1.0), "")
    opened = str(tmp_path / "mask.tif")
    with pytest.raises(RuntimeError):
        GeoTiffWriters(grid, [(opened, np.uint8, 255, None),
                              (str(tmp_path / "no such folder" / "probability.tif"), np.float32, -9999.0, None)])
    assert closed == [opened]
