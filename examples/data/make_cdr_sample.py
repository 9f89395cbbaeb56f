"""Generate the example's synthetic CDR data set: ``cdr_sample.csv``.

One row per admin2 region and day, 2026-10-01 .. 2026-12-31, as a CDR platform
(e.g. FlowKit's ``TotalActivePeriods``/``TotalLocationEvents`` queries) would aggregate it:

    date, admin1_code, admin1_name, admin2_code, admin2_name,
    subscribers   distinct subscribers with at least one call that day,
    calls         outgoing calls,
    call_minutes  total call duration in whole minutes.

The country and regions are invented. The data has a weekly rhythm (quieter weekends),
a slow growth trend, the end-of-year holidays, and a few planted events an analyst
should spot:

* 2026-10-09 .. 10-10  Saltreach: storm, calls about halve;
* 2026-11-20           Lunet: no row at all (a late partition, a data gap);
* 2026-11-21           Tobrek: network outage, calls drop by ~70 %;
* 2026-11-23 .. 11-24  Port Selwyn: harvest-market festival, calls up ~55 %;
* 2026-12-08           Danvik: football final, calls up ~40 %.

Deterministic: only the standard library's seeded ``random.Random`` is used (``random()``
based draws, whose sequence Python keeps stable), so re-running this script reproduces
the committed file byte for byte::

    python examples/data/make_cdr_sample.py            # rewrites examples/data/cdr_sample.csv
    python examples/data/make_cdr_sample.py -o x.csv   # writes elsewhere
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
from pathlib import Path

SEED = 20261124
FIRST_DAY = dt.date(2026, 10, 1)
LAST_DAY = dt.date(2026, 12, 31)
DEFAULT_OUTPUT = Path(__file__).with_name("cdr_sample.csv")
COLUMNS = [
    "date",
    "admin1_code",
    "admin1_name",
    "admin2_code",
    "admin2_name",
    "subscribers",
    "calls",
    "call_minutes",
]

ADMIN1 = {"XZ01": "Central", "XZ02": "Coastal", "XZ03": "Northern", "XZ04": "Highlands"}

# admin2 code, name, subscriber base, calls per active subscriber, mean minutes per call
REGIONS = [
    ("XZ0101", "Almora City", 412_000, 3.6, 2.1),
    ("XZ0102", "Bressel", 96_000, 3.1, 2.3),
    ("XZ0103", "Danvik", 71_000, 2.9, 2.4),
    ("XZ0104", "Fennmoor", 38_000, 2.7, 2.6),
    ("XZ0201", "Port Selwyn", 236_000, 3.4, 2.0),
    ("XZ0202", "Marrow Bay", 64_000, 3.0, 2.2),
    ("XZ0203", "Saltreach", 42_000, 2.8, 2.5),
    ("XZ0204", "Tidewell", 55_000, 2.9, 2.3),
    ("XZ0301", "Kestrel Falls", 118_000, 3.2, 2.2),
    ("XZ0302", "Orrin", 47_000, 2.7, 2.7),
    ("XZ0303", "Tobrek", 83_000, 3.0, 2.4),
    ("XZ0304", "Varden Hills", 29_000, 2.6, 2.8),
    ("XZ0401", "Ashgrove", 58_000, 2.8, 2.5),
    ("XZ0402", "Highcairn", 33_000, 2.5, 2.9),
    ("XZ0403", "Lunet", 24_000, 2.6, 3.0),
]

# Monday .. Sunday
WEEKDAY_CALLS = [1.00, 1.02, 1.03, 1.01, 1.06, 0.86, 0.72]
WEEKDAY_ACTIVE = [1.00, 1.00, 1.00, 1.00, 1.01, 0.95, 0.90]

# Whole country: (calls factor, active-subscriber factor)
NATIONAL_EVENTS = {
    dt.date(2026, 12, 24): (1.22, 1.04),
    dt.date(2026, 12, 25): (0.78, 0.93),
    dt.date(2026, 12, 26): (0.88, 0.96),
    dt.date(2026, 12, 31): (1.30, 1.05),
}

# One region: (calls factor, active-subscriber factor)
REGIONAL_EVENTS = {
    ("XZ0203", dt.date(2026, 10, 9)): (0.48, 0.62),
    ("XZ0203", dt.date(2026, 10, 10)): (0.55, 0.70),
    ("XZ0303", dt.date(2026, 11, 21)): (0.29, 0.44),
    ("XZ0201", dt.date(2026, 11, 23)): (1.52, 1.21),
    ("XZ0201", dt.date(2026, 11, 24)): (1.58, 1.24),
    ("XZ0103", dt.date(2026, 12, 8)): (1.41, 1.12),
}

# Rows that never arrived.
MISSING = {("XZ0403", dt.date(2026, 11, 20))}


def _noise(rng: random.Random, spread: float) -> float:
    """A multiplicative factor around 1 (triangular on [1 - spread, 1 + spread])."""
    return 1.0 + rng.uniform(-spread / 2, spread / 2) + rng.uniform(-spread / 2, spread / 2)


def generate_rows() -> list[dict[str, object]]:
    rng = random.Random(SEED)
    rows: list[dict[str, object]] = []
    day = FIRST_DAY
    while day <= LAST_DAY:
        age = (day - FIRST_DAY).days
        trend = 1.0 + 0.0006 * age
        national_calls, national_active = NATIONAL_EVENTS.get(day, (1.0, 1.0))
        for code, name, base, calls_per_sub, minutes_per_call in REGIONS:
            # Draw for every region-day, kept or not, so one gap never shifts the rest.
            active_noise = _noise(rng, 0.03)
            calls_noise = _noise(rng, 0.06)
            minutes_noise = _noise(rng, 0.04)
            if (code, day) in MISSING:
                continue
            event_calls, event_active = REGIONAL_EVENTS.get((code, day), (1.0, 1.0))
            weekday = day.weekday()
            active_factor = WEEKDAY_ACTIVE[weekday] * national_active * event_active
            active = base * 0.81 * trend * active_factor * active_noise
            # Calls scale with activity; the factors above are for calls, so divide out
            # what they already did to the active-subscriber count.
            calls_factor = WEEKDAY_CALLS[weekday] / WEEKDAY_ACTIVE[weekday]
            event_factor = national_calls / national_active * event_calls / event_active
            calls = active * calls_per_sub * calls_factor * event_factor * calls_noise
            minutes = calls * minutes_per_call * minutes_noise
            rows.append(
                {
                    "date": day.isoformat(),
                    "admin1_code": code[:4],
                    "admin1_name": ADMIN1[code[:4]],
                    "admin2_code": code,
                    "admin2_name": name,
                    "subscribers": round(active),
                    "calls": round(calls),
                    "call_minutes": round(minutes),
                }
            )
        day += dt.timedelta(days=1)
    return rows


def write_csv(path: Path) -> int:
    rows = generate_rows()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT, help="CSV to write")
    args = parser.parse_args(argv)
    count = write_csv(args.output)
    print(f"wrote {count} rows to {args.output}")


if __name__ == "__main__":
    main()
