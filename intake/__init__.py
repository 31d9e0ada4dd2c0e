"""Feed parsing: OneRoster / simple CSV / webhook JSON -> normalized records + rejections."""

from .records import (
    UNSET,
    FeedError,
    GradingPeriod,
    ParsedFeed,
    Rejection,
    SchoolRecord,
    StaffRecord,
    StudentEnrollmentRecord,
)

__all__ = [
    "UNSET",
    "FeedError",
    "GradingPeriod",
    "ParsedFeed",
    "Rejection",
    "SchoolRecord",
    "StaffRecord",
    "StudentEnrollmentRecord",
]
