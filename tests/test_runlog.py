"""sslre.runlog: status lines that get past pytest's output capture."""
pytest_plugins = ["pytester"]


def test_terminal_status_is_shown_from_a_captured_fixture(pytester):
    # The claims' measuring phase runs in a session fixture, whose output pytest captures: progress written
    # there was never seen (minutes of silence on the first claims file).
    pytester.makepyfile(test_s="""
import pytest
from sslre.runlog import terminal_status

@pytest.fixture(scope="session")
def slow(pytestconfig):
    say = terminal_status(pytestconfig)
    for i in (1, 2):
        say(f"measured {i}/2 runs")
    print("captured, not shown")

def test_x(slow):
    pass
""")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*sslre: measured 1/2 runs*", "*sslre: measured 2/2 runs*"])
    assert "captured, not shown" not in result.stdout.str()


def test_claims_conftest_defines_no_unknown_hook():
    """A conftest's module-level ``pytest_*`` names are taken as hooks: the claims conftest must import none."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "claims" / "conftest.py").read_text()
    assert "import pytest_" not in text and " pytest_status" not in text
