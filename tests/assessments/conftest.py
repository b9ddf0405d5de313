"""Fixtures of the assessments' API tests (test_api_assessments.py, test_api_responses.py)."""

from __future__ import annotations

import pytest

from tests.factories import AISystemFactory, make_assessment, make_framework_version


@pytest.fixture
def version(db):
    return make_framework_version()


@pytest.fixture
def system(personas):
    return AISystemFactory(team=personas.team, name="Fraud scorer")


@pytest.fixture
def assessment(personas, system, version):
    return make_assessment(ai_system=system, version=version, actor=personas.risk_owner)
