"""Prints the measured max errors of the loaded-model tests after a run."""

from error_log import RECORDED, table


def pytest_terminal_summary(terminalreporter):
    if RECORDED:
        terminalreporter.section("tfrnn.compat: loaded model vs numpy reference of the old layer")
        for line in table():
            terminalreporter.write_line(line)
