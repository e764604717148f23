"""The library is shared by threads (web servers, notebooks with a pool): output must not depend on them."""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor

import fhirconv

TEXTS = [
    "A 61-year-old woman presented with a painless lump in the left breast. Mammography showed a spiculated "
    "mass. Core biopsy confirmed invasive ductal carcinoma (IDC). IDC was oestrogen receptor positive.",
    "A 45-year-old man had fever and a cough for two weeks. Chest CT revealed a right upper lobe mass and "
    "enlarged right hilar lymph nodes. Biopsy showed squamous cell carcinoma of the right lung.",
    "A 30-year-old woman with systemic lupus erythematosus (SLE) presented with haematuria. Her haemoglobin "
    "was 9.1 g/dL and platelets 98 x10^9/L. SLE nephritis was suspected; renal biopsy confirmed it.",
    "A 72-year-old man with prostate cancer developed back pain. A bone scan showed metastases to the spine "
    "and left femur. PSA was 88 ng/mL. He died in March 2019.",
]


def _convert(text: str) -> str:
    return json.dumps(fhirconv.convert_text(text), sort_keys=True)


def test_threads_give_the_sequential_output():
    expected = [_convert(t) for t in TEXTS]
    work = TEXTS * 12
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)     # switch threads as often as possible: races show at once
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            got = list(pool.map(_convert, work))
    finally:
        sys.setswitchinterval(interval)
    assert got == expected * 12


def test_the_dev_texts_in_8_threads_20_rounds_give_the_sequential_bytes(shared):
    texts = []
    for path in sorted((shared / "eval" / "dev" / "cases").glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        texts.append(text.split("\n", 1)[1] if text.startswith("# source:") else text)
    assert len(texts) >= 30
    expected = [_convert(t) for t in texts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(20):
            assert list(pool.map(_convert, texts)) == expected
