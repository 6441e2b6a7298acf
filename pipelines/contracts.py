"""Event contracts, version 1: the one definition of what an order and a shipment event are.

The validators (``pipelines/validation.py``), the BigQuery table schemas
(``pipelines/tables.py`` -> ``terraform/schemas``), the generator and the tests
all read these declarations.  A breaking change means a new ``schema_version``
and a new contract, never an edit in place.

Wire format: one JSON object per Pub/Sub message, UTF-8, flat except for
``items``.  Money travels as a decimal *string* (``"19.99"``) so no float ever
touches it; it lands in BigQuery NUMERIC.  Times are RFC 3339 with an explicit
offset and are stored as UTC TIMESTAMPs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

SCHEMA_VERSION = 1

# Bounds. They keep one poison message from costing more than any other.
MAX_MESSAGE_BYTES = 64 * 1024
MAX_ITEMS = 100
MAX_QUANTITY = 10_000
MAX_UNIT_PRICE = Decimal("1000000")
MAX_ID_LENGTH = 64
MAX_TEXT_LENGTH = 128
MONEY_SCALE = 2  # digits after the decimal point accepted for money
MAX_FUTURE_SKEW = timedelta(minutes=15)  # event_time may run ahead of the clock by this much
MAX_PAST_AGE = timedelta(days=30)  # older events are dead-lettered, not silently windowed

CHANNELS = ("WEB", "MOBILE_APP", "MARKETPLACE", "STORE", "CALL_CENTER")
PAYMENT_METHODS = ("CARD", "PAYPAL", "BANK_TRANSFER", "GIFT_CARD", "CASH_ON_DELIVERY")
SHIPMENT_STATUSES = (
    "CREATED",
    "PICKED",
    "SHIPPED",
    "IN_TRANSIT",
    "OUT_FOR_DELIVERY",
    "DELIVERED",
    "EXCEPTION",
    "RETURNED",
)
# ISO 4217 codes accepted for money: the pattern is checked; this list is what the generator uses.
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "SEK", "PLN")

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
COUNTRY_PATTERN = r"^[A-Z]{2}$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"


@dataclass(frozen=True)
class Field:
    """One field of an event or a table: its BigQuery type and mode, and a description for the schema."""

    name: str
    type: str  # BigQuery standard type: STRING, INT64, NUMERIC, TIMESTAMP, DATE, RECORD, BOOL
    mode: str = "REQUIRED"  # REQUIRED | NULLABLE | REPEATED
    description: str = ""
    fields: tuple[Field, ...] = ()

    def to_bigquery(self) -> dict:
        out: dict = {"name": self.name, "type": self.type, "mode": self.mode}
        if self.description:
            out["description"] = self.description
        if self.fields:
            out["fields"] = [f.to_bigquery() for f in self.fields]
        return out


ORDER_ITEM_FIELDS = (
    Field("sku", "STRING", description="Stock keeping unit, an id."),
    Field("quantity", "INT64", description=f"Units ordered, 1..{MAX_QUANTITY}."),
    Field("unit_price", "NUMERIC", description="Price of one unit, >= 0, in the order's currency."),
)

ORDER_EVENT_FIELDS = (
    Field("schema_version", "INT64", description="Contract version, 1."),
    Field("order_id", "STRING", description="Order id."),
    Field("customer_id", "STRING", description="Customer id."),
    Field("customer_address_id", "STRING", description="Id of the address the order ships to."),
    Field("event_time", "TIMESTAMP", description="When the order was placed (UTC)."),
    Field("items", "RECORD", "REPEATED", "Order lines, 1..100.", ORDER_ITEM_FIELDS),
    Field("currency", "STRING", description="ISO 4217 currency code."),
    Field("total_amount", "NUMERIC", description="Sum of quantity * unit_price over items, exactly."),
    Field("channel", "STRING", description="One of " + ", ".join(CHANNELS) + "."),
    Field("payment_method", "STRING", description="One of " + ", ".join(PAYMENT_METHODS) + "."),
    Field("card_bin_country", "STRING", "NULLABLE", "ISO 3166 country of the card's BIN; null unless CARD."),
    Field("billing_country", "STRING", description="ISO 3166 billing country."),
    Field("shipping_country", "STRING", description="ISO 3166 destination country."),
    Field("shipping_region", "STRING", description="Destination region (state, province)."),
    Field("shipping_postal_code", "STRING", description="Destination postal code."),
    Field("client_ip_country", "STRING", "NULLABLE", "ISO 3166 country of the client IP, if known."),
)

SHIPMENT_EVENT_FIELDS = (
    Field("schema_version", "INT64", description="Contract version, 1."),
    Field("shipment_id", "STRING", description="Shipment id (one shipment has many status events)."),
    Field("order_id", "STRING", description="Order the shipment fulfils."),
    Field("customer_id", "STRING", description="Customer id."),
    Field("customer_address_id", "STRING", description="Id of the delivery address."),
    Field("carrier", "STRING", description="Carrier code."),
    Field("warehouse_id", "STRING", description="Warehouse the shipment leaves from."),
    Field("status", "STRING", description="One of " + ", ".join(SHIPMENT_STATUSES) + "."),
    Field("event_time", "TIMESTAMP", description="When the status was reached (UTC)."),
    Field("promised_delivery_date", "DATE", description="Delivery date promised to the customer."),
    Field("destination_region", "STRING", description="Destination region (state, province)."),
)

# Pub/Sub metadata the pipelines copy into rows when the runner fills it.  Nothing may depend on
# it: Dataflow's native Pub/Sub source hands Python serialized PubsubMessage protos, and no
# documentation promises these fields are set (README "What Dataflow fills").  A row keeps
# them NULLABLE and names the absent ones in ``missing_metadata``; rows are keyed on event_key.
MESSAGE_METADATA = ("message_id", "publish_time")
MISSING_METADATA_FIELD = Field(
    "missing_metadata",
    "STRING",
    "REPEATED",
    "Pub/Sub metadata the delivery lacked (message_id, publish_time); empty when both were present.",
)

# Added by the pipelines to every fact row: provenance and the stable row key.
METADATA_FIELDS = (
    Field("event_key", "STRING", description="Stable key of the event's content: sha256 of the raw payload, hex."),
    Field("message_id", "STRING", "NULLABLE", "Pub/Sub message id of the delivery, when the runner filled it."),
    Field("publish_time", "TIMESTAMP", "NULLABLE", "Pub/Sub publish time, when the runner filled it."),
    MISSING_METADATA_FIELD,
    Field("attributes", "STRING", "NULLABLE", "Pub/Sub attributes as a JSON object."),
    Field("ingest_time", "TIMESTAMP", description="When the pipeline processed the message."),
)

DEAD_LETTER_FIELDS = (
    Field("pipeline", "STRING", description="Pipeline that rejected the message (orders, shipping)."),
    Field("message_id", "STRING", "NULLABLE", "Pub/Sub message id."),
    Field("publish_time", "TIMESTAMP", "NULLABLE", "Pub/Sub publish time."),
    MISSING_METADATA_FIELD,
    Field("attributes", "STRING", "NULLABLE", "Pub/Sub attributes as a JSON object."),
    Field(
        "payload_base64",
        "STRING",
        description="Chunk chunk_index of the raw payload, base64: exact, whatever its encoding (see chunk_count).",
    ),
    Field(
        "payload_text",
        "STRING",
        "NULLABLE",
        "The payload as UTF-8 text (invalid bytes replaced), cut at 8 KiB; on chunk 0 only.",
    ),
    Field("error_reason", "STRING", description="Stable machine-readable reason code, e.g. missing_field."),
    Field("error_field", "STRING", "NULLABLE", "The offending field, when there is one."),
    Field("error_detail", "STRING", description="Human-readable explanation."),
    Field("event_key", "STRING", description="sha256 of the raw payload, hex: deduplicates redeliveries."),
    Field("dead_letter_time", "TIMESTAMP", description="When the message was dead-lettered."),
    # NULLABLE: BigQuery adds only NULLABLE columns to an existing table; NULL means one whole-payload row.
    Field("chunk_index", "INT64", "NULLABLE", "Which chunk of the payload this row holds, 0-based."),
    Field("chunk_count", "INT64", "NULLABLE", "How many chunk rows hold the payload (about 768 KiB each)."),
    Field("payload_sha256", "STRING", "NULLABLE", "sha256 of the whole payload, hex: checks the reassembly."),
)

WINDOW_FIELDS = (
    Field("window_start", "TIMESTAMP", description="Event-time window start (inclusive)."),
    Field("window_end", "TIMESTAMP", description="Event-time window end (exclusive)."),
    Field("pane_timing", "STRING", description="EARLY, ON_TIME or LATE: late panes update earlier ones."),
    Field("pane_index", "INT64", description="Firing number of this window within one job (see job_name)."),
    Field("emitted_at", "TIMESTAMP", description="When the pane was emitted."),
    Field(
        "job_id", "STRING", "NULLABLE", "Dataflow job id of the job that emitted the pane, when the worker knows it."
    ),
    Field("job_name", "STRING", "NULLABLE", "Name of the job that emitted the pane, e.g. orders-analytics-a1."),
    Field(
        "job_attempt",
        "INT64",
        "NULLABLE",
        "Relaunch attempt of that job (0 = first launch); a new job's panes restart at 0.",
    ),
)

ORDER_REVENUE_FIELDS = (
    *WINDOW_FIELDS,
    Field("currency", "STRING", description="ISO 4217 currency code."),
    Field("revenue", "NUMERIC", description="Sum of total_amount of distinct orders in the window."),
    Field("order_count", "INT64", description="Distinct orders in the window."),
)

SKU_SALES_FIELDS = (
    *WINDOW_FIELDS,
    Field("sku", "STRING", description="Stock keeping unit."),
    Field("currency", "STRING", description="ISO 4217 currency code."),
    Field("units", "INT64", description="Units sold in the window."),
    Field("revenue", "NUMERIC", description="quantity * unit_price summed in the window."),
)

SHIPMENT_STATUS_FIELDS = (
    *WINDOW_FIELDS,
    Field("carrier", "STRING", description="Carrier code."),
    Field("warehouse_id", "STRING", description="Warehouse."),
    Field("status", "STRING", description="Shipment status."),
    Field("shipment_count", "INT64", description="Distinct status events in the window."),
)

LATE_SHIPMENT_FIELDS = (
    *WINDOW_FIELDS,
    Field("carrier", "STRING", description="Carrier code."),
    Field("warehouse_id", "STRING", description="Warehouse."),
    Field("delivered_count", "INT64", description="Shipments delivered in the window."),
    Field("late_count", "INT64", description="Of those, delivered after promised_delivery_date."),
)
