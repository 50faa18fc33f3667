"""A public-data authority with an energy-and-emissions product and three authorized operators,
on a test's own node (``airflow_node``): what the public-data release tests share."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from sqlalchemy import select

from dataspace.config import S3Endpoint, Settings
from dataspace.controlplane import applications, participants
from dataspace.controlplane.applications import ApplicationView, Scenario
from dataspace.identity.keys import SigningKey
from dataspace.store.models import DeliveryRow, LedgerEntryRow, ReleaseRow
from dataspace.store.types import utcnow
from tests.fixtures.airflow import AirflowNode

AUTHORITY = "js-data-bureau"
OPERATORS = ("op-grid-analytics", "op-carbon-credit", "op-unlicensed")
SCHEMA = "public_energy_emissions"
EXTRACTS = "js-bureau-extracts"  # the authority's own bucket of extracts
S3_CONNECTION = "js_bureau_s3"  # the Airflow connection to the authority's S3 user
OPERATOR_OFFER: dict[str, Any] = {
    "uid": "urn:policy:public-energy",
    "permission": [
        {
            "action": "use",
            "constraint": [
                {
                    "leftOperand": "recipientRole",
                    "operator": "isAnyOf",
                    "rightOperand": ["authorized_operator"],
                }
            ],
        }
    ],
}


@dataclass
class PublicWorld:
    node: AirflowNode
    product: str

    @property
    def db(self) -> Any:
        return self.node.db

    def apply(self, operator: str, scenario: str, purpose: str = "carbon-accounting") -> str:
        now = utcnow()
        wanted = Scenario(scenario, purpose, "general", now - timedelta(days=1),
                          now + timedelta(days=180), "园区碳排放核算")  # fmt: skip
        view = applications.apply(
            self.db, self.node.keys, applicant=operator, product=self.product, scenario=wanted
        )
        return view.application_id

    def approve(self, application: str) -> ApplicationView:
        return applications.approve(
            self.db, self.node.keys, authority=AUTHORITY, application=application
        )

    def reject(self, application: str) -> ApplicationView:
        return applications.reject(
            self.db, self.node.keys, authority=AUTHORITY, application=application,
            reason="场景与公共利益不符",
        )  # fmt: skip

    def actions(self) -> list[str]:
        with self.db.transaction() as session:
            query = select(LedgerEntryRow.action).order_by(LedgerEntryRow.sequence)
            return list(session.scalars(query))

    def releases(self) -> list[ReleaseRow]:
        with self.db.transaction() as session:
            query = select(ReleaseRow).where(ReleaseRow.product_id == self.product)
            return list(session.scalars(query))

    def deliveries(self) -> list[DeliveryRow]:
        with self.db.transaction() as session:
            return list(session.scalars(select(DeliveryRow)))

    def public_key_of(self, actor: str) -> str:
        """Registered keys; an actor of another test's node gets a key that cannot verify."""
        try:
            return participants.show_participant(self.db, actor).public_key
        except Exception:  # noqa: BLE001 (NotFound: the event is not ours)
            return SigningKey.generate().public_key_b64


def make_public_world(node: AirflowNode, unique: str) -> PublicWorld:
    node.space.member(AUTHORITY, role="public_data_authority")
    for operator in OPERATORS:
        node.space.member(operator, role="authorized_operator")
    product = f"energy-{unique}"
    node.space.product(product, owner=AUTHORITY, schema=SCHEMA, offers=(OPERATOR_OFFER,))
    return PublicWorld(node, product)


def authority_s3(stack: Settings) -> S3Endpoint:
    """The authority's own S3 user on the embedded store (the stack's keys on an external one)."""
    if not stack.s3_embedded:
        return stack.s3()
    from dataspace.stack.s3_users import ensure_s3_user  # noqa: PLC0415

    return ensure_s3_user(stack, AUTHORITY).s3


def upload_extract(endpoint: S3Endpoint, table: pa.Table, key: str) -> str:
    """Put ``table`` into the authority's bucket as CSV or Parquet (by ``key``'s suffix);
    return the object's ``bucket/key``."""
    sink = io.BytesIO()
    if key.endswith(".csv"):
        pa_csv.write_csv(table, sink)
    else:
        pq.write_table(table, sink)
    client = boto3.client("s3", **endpoint.boto3_kwargs())
    if EXTRACTS not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=EXTRACTS)
    client.put_object(Bucket=EXTRACTS, Key=key, Body=sink.getvalue())
    return f"{EXTRACTS}/{key}"


def s3_connection(endpoint: S3Endpoint) -> str:
    """``AIRFLOW_CONN_…`` JSON of an aws-type connection with the authority's keys."""
    return json.dumps({
        "conn_type": "aws", "login": endpoint.access_key,
        "password": endpoint.secret_key.get_secret_value(), "extra": {"endpoint_url": endpoint.url},
    })  # fmt: skip
