"""The soak's modules import each other by name, as the suite's helpers do."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
