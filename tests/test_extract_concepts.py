"""Concept recognition helpers, on phrases written for these tests."""

from __future__ import annotations

import pytest

from fhirconv.extract._concepts import long_form_start


@pytest.mark.parametrize("before,short,long", [
    ("a scan: computed tomography of the head ", "CTH", "computed tomography of the head "),
    ("she had squamous cell carcinoma ", "SCC", "squamous cell carcinoma "),
    ("after contrast-enhanced magnetic resonance imaging ", "CEMRI", "contrast-enhanced magnetic resonance imaging "),
])
def test_long_form_of_an_acronym(before, short, long):
    start = long_form_start(before, short)
    assert start is not None and before[start:] == long


@pytest.mark.parametrize("before,short", [("the patient was seen ", "CTB"), ("", "CT"), ("on day ", "X1")])
def test_no_long_form_when_the_letters_do_not_spell_it(before, short):
    assert long_form_start(before, short) is None
