"""The `trstctl` command line: help, dispatch, kek generate, config errors."""

from __future__ import annotations

import stat
import sys
import types
from pathlib import Path

import pytest
from trstctl.runtime.cli import main


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    """`trstctl --help` names up, kek and --check-config."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for word in ("up", "kek", "--check-config", "TRSTCTL_"):
        assert word in out


def test_up_help_documents_readiness(capsys: pytest.CaptureFixture[str]) -> None:
    """`trstctl up --help` explains --ready-file, the ready line and the exit codes."""
    with pytest.raises(SystemExit):
        main(["up", "--help"])
    out = capsys.readouterr().out
    assert "--ready-file" in out
    assert "trstctl is up" in out
    assert "logs" in out


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """A bare `trstctl` shows the usage rather than doing something."""
    assert main([]) == 2
    assert "usage: trstctl" in capsys.readouterr().out


def test_check_config_delegates_to_checkconfig(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--check-config` returns what trstctl.runtime.checkconfig.main returns."""
    seen: list[object] = []
    fake = types.ModuleType("trstctl.runtime.checkconfig")
    fake.main = lambda environ: seen.append(environ) or 3  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "trstctl.runtime.checkconfig", fake)
    assert main(["--check-config"]) == 3
    assert len(seen) == 1


def test_kek_generate_writes_a_0600_file_and_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`kek generate PATH` creates a private KEK file and says loudly to back it up."""
    path = tmp_path / "kek.bin"
    assert main(["kek", "generate", str(path)]) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "UNRECOVERABLE" in capsys.readouterr().err


def test_kek_generate_refuses_to_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second `kek generate` on the same path fails and leaves the key alone."""
    path = tmp_path / "kek.bin"
    assert main(["kek", "generate", str(path)]) == 0
    before = path.read_bytes()
    assert main(["kek", "generate", str(path)]) == 1
    assert path.read_bytes() == before
    assert "already exists" in capsys.readouterr().err


def test_up_with_invalid_setting_exits_2_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`trstctl up` with TRSTCTL_GATEWAY_PORT=99999 stops before starting anything."""
    monkeypatch.setenv("TRSTCTL_GATEWAY_PORT", "99999")
    assert main(["up"]) == 2
    assert "TRSTCTL_GATEWAY_PORT" in capsys.readouterr().err
