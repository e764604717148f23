"""The per-document time budget: cooperative, checked between sentences and stages."""

from __future__ import annotations

import pytest

import fhirconv
from fhirconv._budget import UNLIMITED, Budget
from fhirconv.errors import BudgetError, FhirconvError


def test_a_spent_budget_names_the_document_the_stage_and_the_option():
    budget = Budget(1e-9, "case.txt")
    with pytest.raises(BudgetError) as exc:
        budget.check("extraction")
    msg = str(exc.value)
    assert msg.startswith("case.txt: took longer than its time budget") and "during extraction" in msg
    assert "--time-budget" in msg and isinstance(exc.value, FhirconvError)


def test_no_budget_never_stops():
    UNLIMITED.check("extraction")
    Budget(None).check("extraction")
    Budget(0).check("extraction")       # 0 means no limit, as on the command line


def test_the_library_honours_the_budget_and_converts_within_it():
    text = "A 40-year-old woman had fever and a cough. Haemoglobin was 10.2 g/dL."
    with pytest.raises(BudgetError):
        fhirconv.convert_text(text, time_budget=1e-9)
    assert fhirconv.convert_text(text, time_budget=None) == fhirconv.convert_text(text)
