"""Label files for documents parents read (the EL ILP parent copy), one TOML file a language.

`config/label_files/<code>.toml`; English is complete and the fallback for any key (or language)
a file lacks, so a partial translation still produces a whole document.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

LABEL_DIR = Path(__file__).with_name("label_files")
FALLBACK = "en"


@lru_cache(maxsize=32)
def _read(path: Path) -> dict[str, str]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in data.items()}


def available_languages(directory: Path = LABEL_DIR) -> list[str]:
    """The language codes with a label file."""
    return sorted(p.stem for p in directory.glob("*.toml"))


def labels_for(code: str, directory: Path = LABEL_DIR) -> tuple[str, dict[str, str]]:
    """(the language used, its labels over English). An unknown code gives English."""
    base = _read(directory / f"{FALLBACK}.toml")
    path = directory / f"{code}.toml"
    if code == FALLBACK or not code.isidentifier() or not path.is_file():
        return FALLBACK, dict(base)
    return code, base | _read(path)
