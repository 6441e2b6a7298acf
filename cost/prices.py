"""Published list prices the cost comparison uses, each with where and when it was read.

Prices are USD list prices (Tier 1 / US regions where a price depends on the
region), read on the date given.  They change: re-check the URL before you rely
on a figure, and update ``checked`` with it.  Free tiers are kept apart from
the unit prices so the comparison can be shown with and without them (free
tiers are per billing account and are usually already spent by other workloads).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Price:
    """One unit price and its monthly free allowance, with its source."""

    name: str
    usd: float  # per `per` units
    per: float
    unit: str
    free_per_month: float
    source: str
    checked: str

    def cost(self, quantity: float, *, with_free_tier: bool = False) -> float:
        billable = max(0.0, quantity - self.free_per_month) if with_free_tier else quantity
        return billable / self.per * self.usd


CHECKED = "2026-12-01"

WORKFLOWS_INTERNAL_STEP = Price(
    name="Workflows internal steps",
    usd=0.01,
    per=1_000,
    unit="step",
    free_per_month=5_000,
    source="https://cloud.google.com/workflows/pricing",
    checked=CHECKED,
)
# Cloud Run functions (2nd gen) are billed as Cloud Run services with request-based billing.
FUNCTION_REQUEST = Price(
    name="Cloud Run functions requests",
    usd=0.40,
    per=1_000_000,
    unit="request",
    free_per_month=2_000_000,
    source="https://cloud.google.com/run/pricing",
    checked=CHECKED,
)
FUNCTION_VCPU_SECOND = Price(
    name="Cloud Run functions vCPU-seconds",
    usd=0.000024,
    per=1,
    unit="vCPU-second",
    free_per_month=180_000,
    source="https://cloud.google.com/run/pricing",
    checked=CHECKED,
)
FUNCTION_GIB_SECOND = Price(
    name="Cloud Run functions GiB-seconds",
    usd=0.0000025,
    per=1,
    unit="GiB-second",
    free_per_month=360_000,
    source="https://cloud.google.com/run/pricing",
    checked=CHECKED,
)
# Firestore Standard edition; the multi-region figures are the higher ones, so this is an upper bound.
FIRESTORE_READ = Price(
    name="Firestore document reads",
    usd=0.06,
    per=100_000,
    unit="read",
    free_per_month=50_000 * 30,
    source="https://cloud.google.com/firestore/pricing",
    checked=CHECKED,
)
FIRESTORE_WRITE = Price(
    name="Firestore document writes",
    usd=0.18,
    per=100_000,
    unit="write",
    free_per_month=20_000 * 30,
    source="https://cloud.google.com/firestore/pricing",
    checked=CHECKED,
)
# Eventarc: events from Google sources cost 0 USD; the Pub/Sub transport is billed at Pub/Sub rates.
EVENTARC_GOOGLE_EVENT = Price(
    name="Eventarc events from Google sources",
    usd=0.0,
    per=1_000_000,
    unit="event",
    free_per_month=0,
    source="https://cloud.google.com/eventarc/docs/run/pricing",
    checked=CHECKED,
)
PUBSUB_THROUGHPUT_TIB = Price(
    name="Pub/Sub message delivery throughput",
    usd=40.0,
    per=1,
    unit="TiB",
    free_per_month=10 / 1024,
    source="https://cloud.google.com/pubsub/pricing",
    checked=CHECKED,
)

# BigQuery data ingestion (https://cloud.google.com/bigquery/pricing, "Data ingestion pricing"):
# streaming inserts $0.01 per 200 MiB, "individual rows are calculated using a 1 KB minimum";
# Storage Write API $0.025 per 1 GiB, "the first 2 TiB per month are free". Read 2026-12-02.
BIGQUERY_STREAMING_INSERT = Price(
    name="BigQuery streaming inserts (insertAll)",
    usd=0.01,
    per=200,
    unit="MiB",
    free_per_month=0,
    source="https://cloud.google.com/bigquery/pricing#data_ingestion_pricing",
    checked="2026-12-02",
)
BIGQUERY_STORAGE_WRITE = Price(
    name="BigQuery Storage Write API",
    usd=0.025,
    per=1,
    unit="GiB",
    free_per_month=2 * 1024,
    source="https://cloud.google.com/bigquery/pricing#data_ingestion_pricing",
    checked="2026-12-02",
)

ALL = (
    WORKFLOWS_INTERNAL_STEP,
    FUNCTION_REQUEST,
    FUNCTION_VCPU_SECOND,
    FUNCTION_GIB_SECOND,
    FIRESTORE_READ,
    FIRESTORE_WRITE,
    EVENTARC_GOOGLE_EVENT,
    PUBSUB_THROUGHPUT_TIB,
    BIGQUERY_STREAMING_INSERT,
    BIGQUERY_STORAGE_WRITE,
)
