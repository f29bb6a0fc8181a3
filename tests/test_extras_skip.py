"""The repository's conftest: tests and doctests that need a missing extra are skipped, others fail.

Each case runs pytest in a subprocess on a scratch project holding a copy of the root
``conftest.py`` and a ``pyproject.toml`` whose extra ``fake`` needs a package that does not
exist, so the outcome does not depend on which extras this environment has.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MISSING = "wsss_no_such_module_xyz"

PYPROJECT = f"""
[project]
name = "scratch"
version = "0"

[project.optional-dependencies]
test = ["{MISSING}_test_only"]
fake = ["{MISSING.replace("_", "-")}>=1.0", "Sphinx_Like.Pkg"]
"""

MODULE = f'''
def needs_extra():
    """
    >>> needs_extra()
    1
    """
    import {MISSING}.sub  # noqa: F401


def wraps_it():
    """The hint pattern of wsss.crf: an ImportError raised from the missing module.

    >>> wraps_it()
    1
    """
    try:
        import {MISSING}
    except ImportError as err:
        raise ImportError("pip install scratch[fake]") from err


def needs_unlisted():
    """
    >>> needs_unlisted()
    1
    """
    import unlisted_missing_module_xyz  # noqa: F401


def needs_test_extra():
    """
    >>> needs_test_extra()
    1
    """
    import {MISSING}_test_only  # noqa: F401


def wrong_output():
    """
    >>> wrong_output()
    2
    """
    return 1
'''

TESTS = f"""
def test_imports_missing_extra():
    import {MISSING}  # noqa: F401


def test_plain_failure():
    assert 1 == 2
"""


def load_conftest(directory: Path):
    """The root conftest as a module of its own (pytest holds another 'conftest')."""
    spec = importlib.util.spec_from_file_location("_root_conftest", directory / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def scratch_project(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT))
    return tmp_path


TOP_LEVEL = f"""
import {MISSING}.sub  # noqa: F401


def test_never_runs():
    pass
"""

TOP_LEVEL_MODULE = f'''
"""A module of the package that needs the extra at import.

>>> 1
1
"""
import {MISSING}  # noqa: F401
'''


def pytest_in(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--doctest-modules", "-rsfE", "-p", "no:cacheprovider",
         *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )


def run_scratch(tmp_path: Path) -> str:
    scratch_project(tmp_path)
    (tmp_path / "scratch_mod.py").write_text(MODULE)
    (tmp_path / "scratch_top.py").write_text(TOP_LEVEL_MODULE)
    (tmp_path / "test_scratch.py").write_text(TESTS)
    (tmp_path / "test_top_level.py").write_text(TOP_LEVEL)
    result = pytest_in(tmp_path, ".")
    assert result.returncode == 1, result.stdout + result.stderr  # some tests fail
    return result.stdout


@pytest.fixture(scope="module")
def output(tmp_path_factory: pytest.TempPathFactory) -> str:
    return run_scratch(tmp_path_factory.mktemp("extras"))


def outcome(output: str, name: str) -> str:
    for line in output.splitlines():
        if name in line and line.startswith(("SKIPPED", "FAILED")):
            return line.split()[0]
    raise AssertionError(f"{name} not reported:\n{output}")


def test_missing_extra_module_is_skipped_naming_the_extra(output):
    skipped = [line for line in output.splitlines() if line.startswith("SKIPPED")]
    assert len(skipped) == 5, output  # one summary line per place
    assert all(f"needs the 'fake' extra ('{MISSING}' is not installed)" in s for s in skipped)
    # each skip points at the item (its docstring or its def line), not at the conftest
    assert sum("scratch_mod.py:3:" in s for s in skipped) == 1, output
    assert sum("scratch_mod.py:11:" in s for s in skipped) == 1, output
    assert sum("test_scratch.py:2:" in s for s in skipped) == 1, output
    # modules that import the extra at the top: skipped whole, not collection errors
    assert sum("[1] scratch_top.py:" in s for s in skipped) == 1, output
    # a test file is collected twice under --doctest-modules (its tests, its doctests)
    assert sum("[2] test_top_level.py:" in s for s in skipped) == 1, output
    assert "6 test(s) skipped: the 'fake' extra is not installed" in output
    assert "error" not in output.lower().split("short test summary")[-1]


def test_a_top_level_import_outside_the_extras_stays_an_error(tmp_path):
    scratch_project(tmp_path)
    (tmp_path / "test_other.py").write_text("import unlisted_missing_module_xyz  # noqa: F401\n")
    result = pytest_in(tmp_path, "test_other.py")
    assert result.returncode == 2, result.stdout  # interrupted: an error during collection
    assert "ERROR test_other.py" in result.stdout and "SKIPPED" not in result.stdout


def test_other_failures_stand(output):
    assert outcome(output, "scratch_mod.needs_unlisted") == "FAILED"  # in no extra
    assert outcome(output, "scratch_mod.needs_test_extra") == "FAILED"  # 'test' is required
    assert outcome(output, "scratch_mod.wrong_output") == "FAILED"
    assert outcome(output, "test_plain_failure") == "FAILED"
    assert "4 failed, 6 skipped" in output


def test_installed_module_of_an_extra_is_not_skipped(monkeypatch):
    # A module that is installed but fails to import must fail, not skip: the conftest asks
    # importlib whether the module exists before it skips.
    root_conftest = load_conftest(ROOT)
    monkeypatch.setattr(root_conftest, "extra_modules", lambda: {"numpy": "fake"})
    broken = ModuleNotFoundError("No module named 'numpy.nothing'", name="numpy.nothing")
    assert root_conftest.missing_extra(broken) is None
    monkeypatch.setattr(root_conftest, "extra_modules", lambda: {"nope_xyz": "fake"})
    gone = ModuleNotFoundError("No module named 'nope_xyz.sub'", name="nope_xyz.sub")
    assert root_conftest.missing_extra(gone) == ("fake", "nope_xyz")
    assert root_conftest.missing_extra(ImportError("hint")) is None
    assert root_conftest.missing_extra(ValueError("x")) is None


def test_extra_modules_normalises_distribution_names(tmp_path):
    scratch = load_conftest(scratch_project(tmp_path))
    assert scratch.extra_modules() == {MISSING: "fake", "sphinx_like_pkg": "fake"}


def test_extra_modules_of_this_project():
    modules = load_conftest(ROOT).extra_modules()
    assert modules["pydensecrf"] == "crf"  # distribution pydensecrf2, module pydensecrf
    assert modules["sphinx"] == "docs"
    assert "pytest" not in modules  # the test extra is never skipped for
