"""Shared fixtures: a miniature PASCAL VOC 2012 + SBD tree (see ``_mini_voc.py``)."""

from __future__ import annotations

import pytest
from _mini_voc import MiniVOC, build_mini_voc


@pytest.fixture(scope="session")
def mini_voc(tmp_path_factory: pytest.TempPathFactory) -> MiniVOC:
    """A miniature VOC + SBD tree, built once per session; tests must not modify it."""
    return build_mini_voc(tmp_path_factory.mktemp("mini_voc"))
