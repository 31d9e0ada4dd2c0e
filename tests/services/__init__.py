"""Tests of the use cases (services/), on a real database."""
