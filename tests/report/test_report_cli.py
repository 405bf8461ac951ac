"""``sslre report`` end to end: the CLI renders a JSON, and reports a bad one clearly."""
import subprocess
import sys
from pathlib import Path

from sslre.cli import main

ROOT = Path(__file__).resolve().parents[2]
QUICK = ROOT / "fixtures" / "reproduction-quick.json"
PARTIAL = ROOT / "fixtures" / "reproduction-partial.json"


def test_cli_report_in_process(tmp_path, capsys):
    out = tmp_path / "nested" / "r.html"
    assert main(["report", str(PARTIAL), "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert 'id="claim-mine-compression"' in out.read_text(encoding="utf-8")


def test_cli_report_invalid_json_exits_nonzero(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"claims": [')
    assert main(["report", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("sslre: report error:") and "not valid JSON" in err and str(bad) in err
    assert not (tmp_path / "bad.html").exists()


def test_cli_report_subprocess_default_output(tmp_path):
    src = tmp_path / "reproduction.json"
    src.write_bytes(QUICK.read_bytes())
    proc = subprocess.run([sys.executable, "-m", "sslre.cli", "report", str(src)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "reproduction.html").stat().st_size > 100_000
    missing = subprocess.run([sys.executable, "-m", "sslre.cli", "report", str(tmp_path / "absent.json")],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "no such file" in missing.stderr and "Traceback" not in missing.stderr


def test_cli_report_shows_progress_per_claim(tmp_path, capsys):
    # Was: no output at all while the figures were drawn.
    assert main(["report", str(PARTIAL), "-o", str(tmp_path / "r.html")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err and all(line.startswith("sslre: report: claim ") for line in err)
    assert err[-1].startswith(f"sslre: report: claim {len(err)}/{len(err)} ")
