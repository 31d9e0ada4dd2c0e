"""Regenerate the bundled sample district: `python -m deployments.sample.regenerate`.

Deterministic (fixed seed; zip entries carry a fixed timestamp), so running it again rewrites the
same bytes. 300 students K-12 over 3 schools, their teachers, counselors, ESL teachers, ILP
coordinators, principals and one regional VP; about 70% start on the first day of the 2026-27
year and the rest during the year; about 60% are returning students and about 10% English learners.
"""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

from intake.generate import write_sample_district

HERE = Path(__file__).resolve().parent
SAMPLE_ZIP = HERE / "sample-district.zip"
STUDENTS = 300
SCHOOLS = 3
SEED = 2026
FIXED_TIME = (2026, 8, 1, 0, 0, 0)


def regenerate(path: Path = SAMPLE_ZIP) -> Path:
    tmp = path.with_suffix(".tmp")
    write_sample_district(tmp, students=STUDENTS, schools=SCHOOLS, seed=SEED)
    # Rewrite with a fixed timestamp per member so the bytes do not depend on the clock.
    with zipfile.ZipFile(tmp) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in sorted(src.namelist()):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            dst.writestr(info, src.read(name))
    tmp.unlink()
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SAMPLE_ZIP)
    args = parser.parse_args(argv)
    print(regenerate(args.out))


if __name__ == "__main__":
    main()
