"""A fixed signing secret for tests that passes the strength check (random, 32 bytes)."""

STRONG_SECRET = "UKrBN3g-8Bf7Y5zuzCrRevjEqM6ERT1sNQmWPq2Rq7w"
