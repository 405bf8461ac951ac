"""sslre.runlog: status lines that get past pytest's output capture."""
pytest_plugins = ["pytester"]


def test_pytest_status_is_shown_from_a_captured_fixture(pytester):
    # The claims' measuring phase runs in a session fixture, whose output pytest captures: progress written
    # there was never seen (minutes of silence on the first claims file).
    pytester.makepyfile(test_s="""
import pytest
from sslre.runlog import pytest_status

@pytest.fixture(scope="session")
def slow(pytestconfig):
    say = pytest_status(pytestconfig)
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
