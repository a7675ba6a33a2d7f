import pytest

from tutorials._book import stamps


def rec(**kw):
    base = dict(executed=3, passed=3, skipped=0, skip_reasons=[], torch="2.14.1", device="CPU",
                date="2026-11-22", fingerprint="abc")
    return stamps.PageRecord(**(base | kw))


def test_stamp_text():
    assert rec().stamp() == "3 blocks verified · torch 2.14.1 · CPU · 2026-11-22"
    assert rec(passed=2).stamp() == "1 of 3 blocks FAILED in the test run of 2026-11-22"


def test_record_merges_and_rejects_garbage(tmp_path):
    path = tmp_path / "v.json"
    stamps.write_record(path, {"a.md": rec()})
    stamps.write_record(path, {"b.md": rec(executed=1, passed=1)})
    assert set(stamps.read_record(path)) == {"a.md", "b.md"}
    path.write_text("{}")
    with pytest.raises(ValueError, match="not a verified-blocks record"):
        stamps.read_record(path)
    assert stamps.read_record(tmp_path / "absent.json") == {}
