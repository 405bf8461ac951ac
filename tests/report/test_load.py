"""sslre.report.load: strict about the file, lenient about its contents."""
import pytest

from sslre.report.load import ReportError, fmt_duration, fmt_number, get, load_reproduction, normalize_verdict


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON: Expecting property name enclosed in double quotes at line 1, column 2"),
    ("", "the file is empty"),
    ("[1, 2]", "top level is a JSON list, expected an object"),
    ('{"claims": {"a": 1}}', "'claims' is a JSON dict, expected a list"),
    ('{"runs": []}', "'runs' is a JSON list, expected a object"),
    ('{"environment": "x"}', "'environment' is a JSON str"),
])
def test_invalid_files_raise_report_error(tmp_path, content, message):
    p = tmp_path / "r.json"
    p.write_text(content)
    with pytest.raises(ReportError) as e:
        load_reproduction(p)
    assert message in str(e.value) and str(p) in str(e.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ReportError, match="no such file"):
        load_reproduction(tmp_path / "absent.json")
    with pytest.raises(ReportError, match="is a directory"):
        load_reproduction(tmp_path)


def test_binary_file(tmp_path):
    p = tmp_path / "r.json"
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ReportError, match="cannot read the file"):
        load_reproduction(p)


def test_unknown_keys_are_kept(tmp_path):
    p = tmp_path / "r.json"
    p.write_text('{"claims": [], "future": {"x": 1}, "schema_version": 7}')
    assert load_reproduction(p)["future"] == {"x": 1}


@pytest.mark.parametrize("raw, expected", [
    ("supported", "supported"), ("Not_Run", "not run"), ("not-run", "not run"), (None, "not recorded"),
    ("", "not recorded"), ("ERROR", "error"), ("weird", "weird"),
])
def test_normalize_verdict(raw, expected):
    assert normalize_verdict(raw) == expected


def test_formatting():
    assert fmt_number(0.123456) == "0.1235"
    assert fmt_number(12345678.0) == "1.235e+07"
    assert fmt_number([0.5, None]) == "[0.5, —]"
    assert fmt_number(float("inf")) == "∞"
    assert fmt_number("text") == "text"
    assert fmt_duration(59.94) == "59.9 s"
    assert fmt_duration(60) == "1 min 00 s"
    assert fmt_duration(7322) == "2 h 02 min"
    assert fmt_duration("long") == "—"
    assert fmt_duration(float("nan")) == "—"


def test_get_walks_nested_mappings():
    d = {"a": {"b": {"c": 1}}, "n": None}
    assert get(d, "a", "b", "c") == 1
    assert get(d, "a", "x", default="—") == "—"
    assert get(d, "n", default=0) == 0
    assert get("not a dict", "a") is None
