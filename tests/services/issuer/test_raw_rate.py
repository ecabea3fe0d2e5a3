"""The raw signing-rate helper the issuer bench compares against."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def test_raw_sign_rate_measures_something() -> None:
    """raw_sign_rate returns a positive certificates-per-second figure for a short run."""
    path = Path(__file__).resolve().parents[3] / "bench" / "issuer_raw.py"
    spec = importlib.util.spec_from_file_location("issuer_raw", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.raw_sign_rate(0.05) > 0
    assert module.raw_sign_rate(0.05, generate_keys=True) > 0
