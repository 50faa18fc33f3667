"""A product's desensitization, as the release step runs it: the rules, schemas and key of
the product (read once), then the pipeline over a staged extract and its report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from dataspace.canonical import file_sha256
from dataspace.controlplane.read_models import ProductView
from dataspace.dataplane.schema_check import arrow_schema, load_avro_schema
from dataspace.desensitize.pipeline import desensitize_file
from dataspace.desensitize.report import build_report
from dataspace.desensitize.rules import Rules, load_rules
from dataspace.node import Node
from dataspace.publicdata.sources import input_schema
from dataspace.store.types import utcnow

if TYPE_CHECKING:
    from dataspace.publicdata.sources import Staged


@dataclass(frozen=True)
class ProductDesensitization:
    """What desensitizing one product needs; :meth:`run` does it (the key stays in here)."""

    product: ProductView
    rules: Rules
    rules_file: dict[str, str]
    schema: pa.Schema  # the released rows, from schemas/products/<schema>.avsc
    input_schema: pa.Schema  # what the authority's extract must provide
    key: bytes

    def run(self, plan: dict[str, Any], staged: Staged, target: Path) -> dict[str, Any]:
        """Desensitize the staged extract into ``target``; the report (Refused on a
        k-anonymity violation, with nothing written)."""
        outcome = desensitize_file(staged.path, target, self.rules, self.key, self.schema)
        return build_report(
            plan=plan, source={**staged.source, "rows": staged.rows, "sha256": staged.sha256},
            rules=self.rules, rules_file=self.rules_file,
            source_columns=self.input_schema.names, outcome=outcome,
            desensitized_sha256=file_sha256(target), now=utcnow(),
        )  # fmt: skip


def desensitize_staged(node: Node, product: ProductView) -> ProductDesensitization:
    """The product's rules (``schemas/desensitization/<schema>.json``), schema and key."""
    path = node.settings.schemas_dir / "desensitization" / f"{product.schema_name}.json"
    rules = load_rules(path)
    schema_path = node.settings.schemas_dir / "products" / f"{product.schema_name}.avsc"
    schema = arrow_schema(load_avro_schema(schema_path))
    return ProductDesensitization(
        product=product,
        rules=rules,
        rules_file={"file": f"desensitization/{path.name}", "sha256": file_sha256(path)},
        schema=schema,
        input_schema=input_schema(rules, schema),
        key=node.keys.pseudonym_key(product.product_id),
    )
