"""The one atomic writer: readers see the old file or the new one, never half of it."""

import pytest

from training.files import atomic_writer


def test_a_clean_exit_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "result.json"
    target.write_text("old")
    with atomic_writer(target) as handle:
        handle.write("new")
        assert target.read_text() == "old"  # nothing visible before the rename
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_an_error_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "config.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_writer(target) as handle:
            handle.write("half")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["config.json"]
