"""Help text in plain words: value placeholders such as ``PATH ...`` or ``N``, not Python type names.

Typer (0.2x) prints each parameter's Python annotation in the help's type column (``<bool>`` for a
flag, ``<list[Path]>`` for a repeatable folder). Our users are not reading Python: a flag needs no
placeholder, an argument is already named by its metavar, and an option's value is named by its
metavar when it has one, else by a plain word for its type. Applied once, by the CLI, to typer's own
parameter classes; a typer without these hooks keeps its default help.
"""

from __future__ import annotations

from typing import Any

import typer.core

_WORDS = {"str": "TEXT", "int": "N", "float": "NUMBER", "Path": "PATH", "path": "PATH", "file": "FILE",
          "directory": "DIR", "bool": ""}


def plain(label: str) -> str:
    """``<list[Path]>`` → ``PATH ...``, ``<int>`` → ``N``, ``<a|b>`` → ``a|b``."""
    repeat = label.endswith("...")
    label = label.removesuffix("...")
    inner = label[1:-1] if label.startswith("<") and label.endswith(">") else label
    if inner.startswith("list[") and inner.endswith("]"):
        inner, repeat = inner[5:-1], True
    inner = inner.removesuffix(" range")         # the range itself is printed beside it ([x>=1])
    word = _WORDS.get(inner, inner)
    return f"{word} ..." if repeat and word else word


def install() -> None:
    option = getattr(typer.core, "TyperOption", None)
    argument = getattr(typer.core, "TyperArgument", None)
    if option is None or argument is None or not hasattr(option, "display_type_rich"):
        return
    if getattr(option, "_fhirconv_plain", False):
        return
    original = option.display_type_rich

    def option_type(self: Any, ctx: Any) -> str | None:
        if self.metavar is not None:
            return str(self.metavar)
        if getattr(self, "is_flag", False):
            return None
        shown = original(self, ctx)
        return plain(str(shown)) if shown else shown

    def argument_type(self: Any, ctx: Any) -> str | None:
        return None          # the argument's own column already shows its metavar (INPUT, FILE ...)

    option.display_type_rich = option_type
    argument.display_type_rich = argument_type
    option._fhirconv_plain = True
