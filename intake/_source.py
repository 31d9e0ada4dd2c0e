"""Safe access to the CSV files of a feed given as a .zip or a folder, and a tolerant CSV table
reader (header case/whitespace, vendor misspellings, BOM, CRLF) that checks structure first."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import IO

from .records import FeedError

MAX_TOTAL_UNCOMPRESSED = 2 * 1024**3  # 2 GiB for the whole archive
MAX_RATIO = 500  # per member, uncompressed / compressed, for members over 16 MiB
# (a feed with one long repetitive cell compresses that well too: Table rejects its row instead)
_RATIO_FLOOR = 16 * 1024**2
MAX_CELL = 64 * 1024  # a longer cell rejects its row, not the file
csv.field_size_limit(1 << 30)  # cells are measured by Table, not refused by the csv module

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


Reject = Callable[[str, int, str, str], None]


class _Lines:
    """Physical lines for csv.reader, numbered, with the lines of the current record kept so a
    record swallowed by a stray quote can be read again from its second line."""

    def __init__(self, fh: IO[str]) -> None:
        self._fh = fh
        self.count = 0
        self.pending: deque[tuple[int, str]] = deque()
        self.taken: list[tuple[int, str]] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.pending:
            item = self.pending.popleft()
        else:
            text = next(self._fh)
            self.count += 1
            item = (self.count, text)
        self.taken.append(item)
        return item[1]


class Table:
    """One CSV file: `col(name)` gives the index of a (canonical, lower-case) column; every row
    from `rows()` is padded so that `row[col(x)]` always works ('' for absent columns).

    Structure is checked before any value is read: a row whose cell count differs from the
    header's, a quote left open, two header columns that disagree, a NUL byte or a cell over
    `MAX_CELL` rejects that row through `reject` and is never yielded, so no cell lands in
    another field. `broken_line` is the first line of a row refused so (None when there is
    none): the file may have lost a row whose sourcedId could not be trusted, so absence from it
    proves nothing.
    """

    def __init__(
        self,
        fh: IO[str],
        file: str,
        required: tuple[str, ...] = (),
        normalize: Callable[[str], str] = canonical_header,
        reject: Reject | None = None,
    ) -> None:
        self.file = file
        self._fh = fh
        self._lines = _Lines(fh)
        self._reader = csv.reader(self._lines)
        self.rejections: list[tuple[str, int, str, str]] = []
        self._reject: Reject = reject or (lambda *r: self.rejections.append(r))
        self.broken_line: int | None = None
        try:
            header = next(self._reader, None)
        except (csv.Error, UnicodeDecodeError) as e:
            fh.close()
            raise FeedError(f"{file} is not CSV text ({e})") from e
        if header is None or not any(h.strip() for h in header):
            fh.close()
            raise FeedError(f"{file} is empty: no header row")
        if len(self._lines.taken) > 1:
            fh.close()
            raise FeedError(f"{file}: unterminated quote opened on line 1 (the header)")
        self._lines.taken.clear()
        self.headers = header
        self.idx: dict[str, int] = {}
        self._duplicates: list[tuple[str, int, int]] = []
        for i, h in enumerate(header):
            key = normalize(h)
            if not key:
                continue
            if key in self.idx:
                self._duplicates.append((h.strip(), self.idx[key], i))
            else:
                self.idx[key] = i
        self.width = len(header)
        # trailing empty header columns (",,") may be left out of the rows
        self.min_width = self.width
        while self.min_width > 1 and not header[self.min_width - 1].strip():
            self.min_width -= 1
        missing = [c for c in required if c.lower() not in self.idx]
        if missing:
            fh.close()
            raise FeedError(
                f"{file} has wrong headers: no {', '.join(missing)} column "
                f"(found: {', '.join(h.strip() for h in header if h.strip())[:200]})"
            )
        for name, a, b in self._duplicates:
            self._structural(
                1,
                name,
                f"duplicate header column {name!r} (columns {a + 1} and {b + 1}): "
                "rows where they differ are rejected",
            )

    def _structural(self, line: int, column: str, reason: str) -> None:
        if self.broken_line is None or line < self.broken_line:
            self.broken_line = line
        self._reject(self.file, line, column, reason)

    def col(self, name: str) -> int:
        """Index of the column, or the padding index (always '') when the column is absent."""
        return self.idx.get(name.lower(), self.width)

    def has(self, name: str) -> bool:
        return name.lower() in self.idx

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(first physical line of the record, padded row); blank lines are skipped."""
        reader, lines = self._reader, self._lines
        taken = lines.taken
        width, min_width, pad_to = self.width, self.min_width, self.width + 1
        wrong_counts: dict[int, int] = {}
        good = 0
        try:
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    break
                start, end = taken[0][0], taken[-1][0]
                n = len(row)
                if n == 0 or (n == 1 and not row[0].strip()):
                    taken.clear()
                    continue
                if n < min_width or n > width:
                    if taken[0][1].count('"') % 2:
                        self._structural(start, "", f"unterminated quote opened on line {start}")
                        if end > start:  # read the swallowed lines again, as rows of their own
                            lines.pending.extendleft(reversed(taken[1:]))
                    else:
                        wrong_counts[n] = wrong_counts.get(n, 0) + 1
                        self._structural(
                            start, "", f"row has {n} cells but the header has {width} columns"
                        )
                    taken.clear()
                    continue
                reason = self._bad_cells(row, taken)
                taken.clear()
                if reason is not None:
                    self._structural(start, reason[0], reason[1])
                    continue
                good += 1
                if n < pad_to:
                    row.extend([""] * (pad_to - n))
                yield start, row
        except (csv.Error, UnicodeDecodeError) as e:
            raise FeedError(f"{self.file} line {lines.count} is not CSV text ({e})") from e
        finally:
            self._fh.close()
        if len(wrong_counts) == 1 and not good:
            n = next(iter(wrong_counts))
            what = "missing" if n > width else "extra"
            self._structural(
                1,
                "",
                f"the header has {width} columns but every row has {n} cells: "
                f"a header column is {what}, so no row of {self.file} was read",
            )

    def _bad_cells(self, row: list[str], taken: list[tuple[int, str]]) -> tuple[str, str] | None:
        if max(map(len, row)) > MAX_CELL:
            i = next(i for i, cell in enumerate(row) if len(cell) > MAX_CELL)
            return self._name(
                i
            ), f"cell longer than {MAX_CELL // 1024} KB ({len(row[i])} characters)"
        if any("\x00" in text for _, text in taken):
            i = next((i for i, cell in enumerate(row) if "\x00" in cell), 0)
            return self._name(i), "NUL byte in the cell: the row is refused"
        for name, a, b in self._duplicates:
            if row[a].strip() != row[b].strip():
                return name, f"the two {name!r} columns disagree: {row[a]!r} and {row[b]!r}"
        return None

    def _name(self, i: int) -> str:
        return self.headers[i].replace("\ufeff", "").strip() if i < len(self.headers) else ""
