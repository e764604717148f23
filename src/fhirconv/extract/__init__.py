"""Extraction: a decoded document → typed facts about each individually described patient.

Steps: sections → sentences → which sentences may speak about the index patient(s)
(section kind, literature/general-knowledge sentences, case-series segmentation) →
dictionary matches (Aho-Corasick over the mappings' terms) → ConText assertion per
match → values, units, laterality, body sites, metastasis relations and dates.
"""

from __future__ import annotations

from .._budget import UNLIMITED, Budget
from ..mappings import Mappings
from ..model import Extraction, SourceDocument
from ._facts import Extractor

__all__ = ["Extractor", "extract"]


def extract(doc: SourceDocument, mappings: Mappings, budget: Budget = UNLIMITED) -> Extraction:
    """The facts a document asserts, per patient, each with its source span (BudgetError when the
    budget runs out)."""
    return Extractor.for_mappings(mappings).run(doc, budget)
