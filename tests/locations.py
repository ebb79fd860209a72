"""Where things are, for a test in any folder under tests/: the plugin's root (this
checkout), the real data beside it (../shared/data, never copied into the project) and
the folder screenshots and other artifacts go to."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
BIJIE = SHARED_DATA / "bijie"
ARTIFACTS = ROOT / "build" / "test-artifacts"
