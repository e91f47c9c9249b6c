"""The runner keeps the logs in data/run bounded (ingest.local.processes.cap_logs) while their
writers keep writing: copy the log aside, empty it, and the writer goes on at the new end."""

from __future__ import annotations

from ingest.local.processes import cap_logs


def test_a_log_over_the_cap_is_set_aside_and_its_writer_goes_on_at_the_start(tmp_path):
    log = tmp_path / "bronze.log"
    small = tmp_path / "relay.log"
    small.write_bytes(b"short\n")
    with open(log, "ab", buffering=0) as writer:  # as a child's stdout is opened
        writer.write(b"x" * 3000 + b"\n")
        assert cap_logs(tmp_path, max_bytes=1000) == [log]
        writer.write(b"after the cap\n")
    assert (tmp_path / "bronze.log.1").read_bytes() == b"x" * 3000 + b"\n"
    assert log.read_bytes() == b"after the cap\n"  # no hole of zeros where the old text was
    assert small.read_bytes() == b"short\n" and not (tmp_path / "relay.log.1").exists()


def test_the_previous_part_is_replaced_so_two_files_at_most(tmp_path):
    log = tmp_path / "dbt.log"
    for text in (b"first" * 400, b"second" * 400):
        log.write_bytes(text)
        cap_logs(tmp_path, max_bytes=100)
    assert (tmp_path / "dbt.log.1").read_bytes() == b"second" * 400
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dbt.log", "dbt.log.1"]
