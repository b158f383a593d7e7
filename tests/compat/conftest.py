"""Prints the measured max errors of the loaded-model tests after a run
(also when pytest-xdist runs the tests in other processes: each test hands
what it recorded to its report)."""

import pytest
from error_log import RECORDED, table

PROPERTY = "compat_error"


@pytest.fixture(autouse=True)
def _report_recorded_errors(request):
    before = dict(RECORDED)
    yield
    for label, err in RECORDED.items():
        if before.get(label) != err:
            request.node.user_properties.append((PROPERTY, (label, err)))


def pytest_terminal_summary(terminalreporter):
    errors: dict[str, float] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            for name, value in getattr(report, "user_properties", ()):
                if name == PROPERTY:
                    label, err = value
                    errors[label] = max(err, errors.get(label, 0.0))
    if errors:
        terminalreporter.section("tfrnn.compat: loaded model vs numpy reference of the old layer")
        for line in table(errors):
            terminalreporter.write_line(line)
