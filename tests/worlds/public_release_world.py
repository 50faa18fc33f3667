"""A public-data product with an approved application, a desensitized file and its report,
on a test's own control plane and release bucket: what the public-release rule tests share.

The report is built here as the authorized-operation path would write it; the tests do not
run the desensitization pipeline (its own tests do)."""

from __future__ import annotations

import hashlib
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from dataspace.canonical import file_sha256
from dataspace.config import Settings
from dataspace.controlplane import applications, public_releases
from dataspace.controlplane.applications import Scenario
from dataspace.controlplane.public_releases import PublicReleaseAuthorization
from dataspace.node import Node
from dataspace.publishing.publish import PublishSummary, publish
from dataspace.store.types import utcnow
from tests.fixtures.controlplane import Space
from tests.worlds.public_data_world import AUTHORITY, OPERATOR_OFFER, SCHEMA

LICENSED, UNLICENSED, SUPPLIER = "op-grid", "op-unlicensed", "supplier-01"
DISTRICTS = (("南京市", "江宁区"), ("苏州市", "吴中区"))


@dataclass
class PublicReleaseWorld:
    space: Space
    settings: Settings
    product: str
    application: str

    def node(self) -> closing[Node]:
        return closing(Node(self.settings, self.space.db, self.space.keys))

    def desensitized(self, path: Path, enterprises: int = 10, so2: float = 1.5) -> Path:
        """A file as the desensitize step writes it (schema and suite of the product)."""
        rows = [
            (f"ent-{hashlib.sha256(str(i).encode()).hexdigest()[:32]}", *DISTRICTS[i % 2],
             f"2025-0{month}", "C26 化学原料和化学制品制造业", 1000 * i + month, so2, 0.5, 2.0)
            for i in range(enterprises) for month in (1, 2, 3)
        ]  # fmt: skip
        names = ("enterprise_ref", "city", "district", "period", "industry",
                 "electricity_kwh", "so2_kg", "nox_kg", "co2_t")  # fmt: skip
        pq.write_table(pa.Table.from_pylist([dict(zip(names, r, strict=True)) for r in rows]), path)
        return path

    def report(self, path: Path) -> dict[str, Any]:
        rows = pq.read_metadata(path).num_rows
        return {
            "report_version": 1, "product_id": self.product, "application_id": self.application,
            "authority": AUTHORITY, "operator": LICENSED,
            "source": {"kind": "object", "bucket": "js-bureau", "key": "extract.csv",
                       "format": "csv", "rows": rows + 6, "sha256": "ab" * 32},
            "columns": [{"column": "enterprise_name", "treatment": "dropped"},
                        {"column": "credit_code", "treatment": "pseudonymized",
                         "into": ["enterprise_ref"], "method": "HMAC-SHA256"},
                        {"column": "address", "treatment": "generalized",
                         "into": ["city", "district"], "level": "district"}],
            "k_anonymity": {"k": 5, "quasi_identifiers": ["city", "district", "industry"],
                            "groups": 3, "suppressed_groups": 1, "suppressed_rows": 6,
                            "smallest_class": 5},
            "rows": {"input": rows + 6, "output": rows},
            "desensitized_sha256": file_sha256(path), "<script>": "kept as data",
        }  # fmt: skip

    def desensitize(self, path: Path, now: datetime | None = None) -> PublicReleaseAuthorization:
        return public_releases.record_desensitization(
            self.space.db, self.space.keys, application=self.application,
            report=self.report(path), desensitized_sha256=file_sha256(path), now=now,
        )  # fmt: skip

    def apply(self, operator: str) -> str:
        """A pending application of ``operator`` for another scenario."""
        now = utcnow()
        wanted = Scenario("credit-scoring", "credit-assessment", "general", now,
                          now + timedelta(days=30))  # fmt: skip
        return applications.apply(
            self.space.db, self.space.keys, applicant=operator, product=self.product,
            scenario=wanted,
        ).application_id  # fmt: skip

    def publish(
        self, path: Path, authorization: PublicReleaseAuthorization | None, **kwargs: Any
    ) -> PublishSummary:
        with self.node() as node:
            return publish(
                node, product_id=self.product, provider=AUTHORITY, source=path,
                authorization=authorization, **kwargs,
            )  # fmt: skip


def make_public_release_world(
    space: Space, settings: Settings, unique: str, term: timedelta = timedelta(days=90)
) -> PublicReleaseWorld:
    space.member(AUTHORITY, role="public_data_authority")
    space.member(LICENSED, role="authorized_operator")
    space.member(UNLICENSED, role="authorized_operator")
    space.member(SUPPLIER)
    product = f"energy-{unique}"
    space.product(product, owner=AUTHORITY, schema=SCHEMA, offers=(OPERATOR_OFFER,))
    now = utcnow()
    wanted = Scenario("park-carbon", "carbon-accounting", "general", now - timedelta(days=1),
                      now + term, "园区碳核算")  # fmt: skip
    applied = applications.apply(
        space.db, space.keys, applicant=LICENSED, product=product, scenario=wanted
    )
    applications.approve(
        space.db, space.keys, authority=AUTHORITY, application=applied.application_id
    )
    isolated = settings.model_copy(update={"release_bucket": f"pub-{unique}"})
    return PublicReleaseWorld(space, isolated, product, applied.application_id)
