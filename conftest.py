"""Tests and ``>>>`` examples that need an optional extra skip cleanly when it is missing.

The extras and their packages are read from ``pyproject.toml`` (``[project.optional-dependencies]``,
all but ``test``). A test or doctest whose run raises :class:`ModuleNotFoundError` for the module
of one of those packages, or a test module (or a module collected for its doctests) that
imports one at the top, is reported as *skipped*, naming the extra to install, provided the
module really is not installed (``importlib.util.find_spec`` finds nothing). With the extra
installed, every failure stands; so does a missing module that belongs to no extra.

It lives at the repository root so that it covers the doctests under ``wsss/`` as well as
``tests/`` (``python -m pytest --doctest-modules wsss tests``).
"""

from __future__ import annotations

import doctest
import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Distributions whose import name is not their normalised distribution name.
_IMPORT_NAMES = {"pydensecrf2": "pydensecrf", "pillow": "PIL", "scikit-image": "skimage"}
#: Extras that the test command itself needs: never skipped for.
_ALWAYS_INSTALLED = frozenset({"test"})
_SKIPPED: dict[str, int] = {}


def _optional_dependencies() -> dict[str, list[str]]:
    pyproject = Path(__file__).with_name("pyproject.toml")
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the installed metadata says the same
        return _optional_dependencies_from_metadata()
    with open(pyproject, "rb") as f:
        return dict(tomllib.load(f)["project"].get("optional-dependencies", {}))


def _optional_dependencies_from_metadata() -> dict[str, list[str]]:
    from importlib.metadata import PackageNotFoundError, requires

    try:
        requirements = requires("wsss") or []
    except PackageNotFoundError:
        return {}
    extras: dict[str, list[str]] = {}
    for requirement in requirements:
        match = re.search(r"""extra\s*==\s*["']([^"']+)["']""", requirement)
        if match:
            extras.setdefault(match.group(1), []).append(requirement.split(";")[0])
    return extras


def extra_modules() -> dict[str, str]:
    """``{top-level module: extra}`` for every optional extra but ``test``."""
    modules: dict[str, str] = {}
    for extra, requirements in _optional_dependencies().items():
        if extra in _ALWAYS_INSTALLED:
            continue
        for requirement in requirements:
            match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
            if not match:
                continue
            dist = re.sub(r"[-_.]+", "-", match.group(1)).lower()
            modules[_IMPORT_NAMES.get(dist, dist.replace("-", "_"))] = extra
    return modules


def _exception_chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _first_error(exc: BaseException) -> BaseException | None:
    """The exception a test or doctest raised (a doctest wraps it in its failure report)."""
    failures = getattr(exc, "failures", None)  # pytest's MultipleDoctestFailures
    if failures:
        exc = failures[0]
    if isinstance(exc, doctest.UnexpectedException):
        return exc.exc_info[1]
    if isinstance(exc, doctest.DocTestFailure):
        return None
    return exc


def _extra_of(module: str) -> tuple[str, str] | None:
    """``(extra, top-level module)`` if ``module`` belongs to an extra and is not installed."""
    top = module.split(".")[0]
    extra = extra_modules().get(top)
    if extra is None or importlib.util.find_spec(top) is not None:
        return None
    return extra, top


def missing_extra(exc: BaseException) -> tuple[str, str] | None:
    """``(extra, module)`` if ``exc`` comes from importing an extra's missing module."""
    for link in _exception_chain(_first_error(exc)):
        if isinstance(link, ModuleNotFoundError) and link.name:
            found = _extra_of(link.name)
            if found is not None:
                return found
    return None


def _skip_message(found: tuple[str, str]) -> str:
    extra, module = found
    _SKIPPED[extra] = _SKIPPED.get(extra, 0) + 1
    return f"needs the '{extra}' extra ({module!r} is not installed)"


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[pytest.CollectReport]:
    """A module that imports a missing extra at the top is skipped, not a collection error."""
    report: pytest.CollectReport = yield
    if report.failed:
        # pytest keeps only the formatted traceback of a failed import; its last line names
        # the module ("ModuleNotFoundError: No module named 'x'").
        named = re.findall(r"ModuleNotFoundError: No module named '([\w.]+)'", str(report.longrepr))
        found = _extra_of(named[-1]) if named else None
        if found is not None:
            report.outcome = "skipped"
            report.longrepr = (str(collector.path), 0, f"Skipped: {_skip_message(found)}")
            report.result = []
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Iterator[pytest.TestReport]:
    report: pytest.TestReport = yield
    if call.when == "call" and report.failed and call.excinfo is not None:
        found = missing_extra(call.excinfo.value)
        if found is not None:
            path, line = item.reportinfo()[:2]
            report.outcome = "skipped"
            report.longrepr = (str(path), (line or 0) + 1, f"Skipped: {_skip_message(found)}")
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for extra, count in sorted(_SKIPPED.items()):
        terminalreporter.write_line(
            f"{count} test(s) skipped: the '{extra}' extra is not installed "
            f'(pip install "wsss[{extra}]" runs them)'
        )
