"""Safe access to the CSV files of a feed given as a .zip or a folder, and a tolerant CSV table
reader (header case/whitespace, vendor misspellings, BOM, CRLF, short rows)."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import IO

from .records import FeedError

MAX_TOTAL_UNCOMPRESSED = 2 * 1024**3  # 2 GiB for the whole archive
MAX_RATIO = 500  # per member, uncompressed / compressed, for members over 1 MiB
_RATIO_FLOOR = 1024**2

# lower-cased header -> canonical lower-cased header
HEADER_ALIASES = {
    "datalastmodified": "datelastmodified",
    "prefferedgivenname": "preferredgivenname",
    "prefferedfamilyname": "preferredfamilyname",
    "prefferedmiddlename": "preferredmiddlename",
    "agentsourceids": "agentsourcedids",
    "sourceid": "sourcedid",
    "orgsourceids": "orgsourcedids",
}

_DRIVE = re.compile(r"^[A-Za-z]:")


def canonical_header(text: str) -> str:
    key = text.replace("\ufeff", "").strip().lower()
    return HEADER_ALIASES.get(key, key)


def _unsafe_member(name: str) -> bool:
    norm = name.replace("\\", "/")
    if norm.startswith("/") or _DRIVE.match(norm):
        return True
    return ".." in PurePosixPath(norm).parts


class FeedSource:
    """The CSV files of a feed, found by case-insensitive base name."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._zip: zipfile.ZipFile | None = None
        self._files: dict[str, str] = {}  # lower base name -> member name / file path
        p = self.path
        if p.is_dir():
            for f in sorted(p.iterdir()):
                if f.is_file() and f.suffix.lower() == ".csv":
                    self._files[f.name.lower()] = str(f)
            if not self._files:
                raise FeedError(f"not a OneRoster feed: folder {p} holds no CSV files")
            return
        if not p.is_file():
            raise FeedError(f"not a OneRoster feed: {p} does not exist")
        if p.stat().st_size == 0:
            raise FeedError(f"not a OneRoster feed: {p.name} is an empty file")
        if not zipfile.is_zipfile(p):
            raise FeedError(f"not a OneRoster feed: {p.name} is neither a zip archive nor a folder")
        try:
            zf = zipfile.ZipFile(p)
            infos = zf.infolist()
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            raise FeedError(f"not a OneRoster feed: {p.name} is a damaged zip archive ({e})") from e
        self._zip = zf
        total = 0
        for info in infos:
            if _unsafe_member(info.filename):
                self.close()
                raise FeedError(
                    f"refusing zip archive {p.name}: member {info.filename!r} points outside it"
                )
            total += info.file_size
            if info.file_size > _RATIO_FLOOR and info.file_size > MAX_RATIO * max(
                info.compress_size, 1
            ):
                self.close()
                raise FeedError(
                    f"refusing zip archive {p.name}: member {info.filename!r} compresses "
                    f"more than {MAX_RATIO}:1 (zip bomb guard)"
                )
        if total > MAX_TOTAL_UNCOMPRESSED:
            self.close()
            raise FeedError(
                f"refusing zip archive {p.name}: more than {MAX_TOTAL_UNCOMPRESSED} bytes "
                "uncompressed (zip bomb guard)"
            )
        for info in infos:
            if info.is_dir() or info.filename.startswith("__MACOSX/"):
                continue
            base = PurePosixPath(info.filename.replace("\\", "/")).name
            if not base.lower().endswith(".csv") or base.startswith("._"):
                continue
            if base.lower() in self._files:
                self.close()
                raise FeedError(f"zip archive {p.name} holds more than one {base}")
            self._files[base.lower()] = info.filename
        if not self._files:
            self.close()
            raise FeedError(f"not a OneRoster feed: zip archive {p.name} holds no CSV files")

    def has(self, name: str) -> bool:
        return name.lower() in self._files

    def display_name(self, name: str) -> str:
        return PurePosixPath(self._files[name.lower()].replace("\\", "/")).name

    def open_text(self, name: str) -> IO[str]:
        member = self._files[name.lower()]
        if self._zip is not None:
            return io.TextIOWrapper(self._zip.open(member), encoding="utf-8-sig", newline="")
        return open(member, encoding="utf-8-sig", newline="")  # noqa: SIM115

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None

    def __enter__(self) -> FeedSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Table:
    """One CSV file: `col(name)` gives the index of a (canonical, lower-case) column; every row
    from `rows()` is padded so that `row[col(x)]` always works ('' for absent columns)."""

    def __init__(
        self,
        fh: IO[str],
        file: str,
        required: tuple[str, ...] = (),
        normalize: Callable[[str], str] = canonical_header,
    ) -> None:
        self.file = file
        self._fh = fh
        self._reader = csv.reader(fh)
        try:
            header = next(self._reader, None)
        except (csv.Error, UnicodeDecodeError) as e:
            fh.close()
            raise FeedError(f"{file} is not CSV text ({e})") from e
        if header is None or not any(h.strip() for h in header):
            fh.close()
            raise FeedError(f"{file} is empty: no header row")
        self.headers = header
        self.idx: dict[str, int] = {}
        for i, h in enumerate(header):
            key = normalize(h)
            if key and key not in self.idx:
                self.idx[key] = i
        self.width = len(header)
        missing = [c for c in required if c.lower() not in self.idx]
        if missing:
            fh.close()
            raise FeedError(
                f"{file} has wrong headers: no {', '.join(missing)} column "
                f"(found: {', '.join(h.strip() for h in header if h.strip())[:200]})"
            )

    def col(self, name: str) -> int:
        """Index of the column, or the padding index (always '') when the column is absent."""
        return self.idx.get(name.lower(), self.width)

    def has(self, name: str) -> bool:
        return name.lower() in self.idx

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(first physical line of the record, padded row); blank lines are skipped."""
        reader = self._reader
        pad_to = self.width + 1
        prev = reader.line_num
        try:
            for row in reader:
                start = prev + 1
                prev = reader.line_num
                n = len(row)
                if n == 0 or (n == 1 and not row[0].strip()):
                    continue
                if n < pad_to:
                    row.extend([""] * (pad_to - n))
                else:
                    # extra cells beyond the header: keep the padding cell empty
                    row[self.width] = ""
                yield start, row
        except (csv.Error, UnicodeDecodeError) as e:
            raise FeedError(f"{self.file} line {prev + 1} is not CSV text ({e})") from e
        finally:
            self._fh.close()
