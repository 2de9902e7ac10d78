"""The console's languages: one catalogue of strings per language (translations/<lang>.json),
with the same keys in each. Strings take named {placeholders}."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

TRANSLATIONS = Path(__file__).parent / "translations"
LANGUAGES = ("en", "zh-CN")
DEFAULT_LANGUAGE = "en"


@cache
def catalogue(lang: str) -> dict[str, str]:
    with open(TRANSLATIONS / f"{lang}.json", encoding="utf-8") as f:
        return json.load(f)


class Translator:
    def __init__(self, lang: str):
        self.lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
        self._strings = catalogue(self.lang)

    def __call__(self, key: str, /, **params) -> str:
        text = self._strings[key]  # a missing key is a bug: the catalogue test finds them all
        return text.format(**params) if params else text

    def has(self, key: str) -> bool:
        return key in self._strings


def negotiate(accept_language: str | None) -> str:
    """The console language for a first visit, from the browser's Accept-Language."""
    best, best_q = DEFAULT_LANGUAGE, -1.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        lang = "zh-CN" if tag.startswith("zh") else "en" if tag.startswith("en") else None
        if lang and q > best_q:
            best, best_q = lang, q
    return best
