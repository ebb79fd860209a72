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
