"""Every event schema: it parses, its recorded sample round-trips, it stays backward compatible."""

from __future__ import annotations

import copy
import io
import json
import random
import re
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from fastavro import schemaless_reader, schemaless_writer
from fastavro.utils import generate_many

from dataspace.errors import ConfigError, InvalidInput, NotFound
from dataspace.events.compat import check_compatible
from dataspace.events.registry import (
    DEFAULT_SCHEMA_DIR,
    ROUTES,
    default_registry,
    event_id_for,
    load_registry,
    schema_fingerprint,
    snake_case,
)
from tests.event_vectors import FROZEN_V1_DIR, Vector, as_recorded, load_vectors

REGISTRY = default_registry()
VECTORS = load_vectors(REGISTRY)
TOPIC_PATTERN = re.compile(r"dataspace\.[a-z]+\.[a-z]+\.v[1-9][0-9]*")
SECRET_LOOKING = re.compile(
    r"url|uri|password|passwd|secret|token|credential|bucket|object_key|access_key|presign"
)


def by_name(vector: Vector) -> str:
    return vector.event_type


def raw(name: str) -> dict[str, Any]:
    return copy.deepcopy(dict(REGISTRY.event_type(name).raw_schema))


def field_names(schema: Any) -> Iterator[str]:
    """Every field name in a schema, nested records included."""
    if isinstance(schema, list):
        for branch in schema:
            yield from field_names(branch)
    elif isinstance(schema, dict):
        for field in schema.get("fields", []):
            yield field["name"]
            yield from field_names(field["type"])
        for nested in ("items", "values"):
            if nested in schema:
                yield from field_names(schema[nested])


def secret_looking_fields(schema: Any) -> list[str]:
    return [name for name in field_names(schema) if SECRET_LOOKING.search(name.lower())]


def samples(schema: Mapping[str, Any], recorded: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The recorded body, the same with every optional field null, and generated bodies."""
    nulled = {
        f["name"]: None
        for f in schema["fields"]
        if isinstance(f["type"], list) and "null" in f["type"]
    }
    state = random.getstate()
    random.seed(20250303)  # generated samples are the same in every run
    try:
        generated = list(generate_many(dict(schema), 50))
    finally:
        random.setstate(state)
    return [recorded, {**recorded, **nulled}, *generated]


# -- the registry --------------------------------------------------------------------------


def test_every_schema_file_is_loaded_and_routed() -> None:
    files = {path.stem for path in DEFAULT_SCHEMA_DIR.glob("*.avsc")}
    assert files == {snake_case(name) for name in ROUTES}
    assert REGISTRY.names() == sorted(ROUTES)


def test_the_registry_is_loaded_once() -> None:
    assert default_registry() is default_registry()


def test_topics_follow_the_convention_and_are_distinct() -> None:
    shared = REGISTRY.topics()
    addressed = REGISTRY.addressed_topics("supplier-07")
    assert all(TOPIC_PATTERN.fullmatch(topic) for topic in shared), shared
    assert len(set(shared)) + len(set(addressed)) == len(ROUTES)
    assert REGISTRY.topic("ProductPublished") == "dataspace.products.published.v1"


def test_events_addressed_to_a_participant_go_on_its_own_topics() -> None:
    addressed = REGISTRY.addressed_topics("supplier-07")

    assert REGISTRY.topic("DeliveryAnnounced", "supplier-07") in addressed
    assert all(t.startswith("dataspace.to.supplier-07.") for t in addressed), addressed
    # Participant ids hold no '.', so one participant's prefix never covers another's topics.
    assert not any(t.startswith("dataspace.to.supplier-0.") for t in addressed)
    with pytest.raises(InvalidInput, match="addressed to one participant"):
        REGISTRY.topic("DeliveryAnnounced")
    with pytest.raises(InvalidInput, match="participant id"):
        REGISTRY.topic("DeliveryAnnounced", "supplier.07")


def test_fingerprints_are_distinct_crc64_hex() -> None:
    prints = [REGISTRY.fingerprint(name) for name in REGISTRY.names()]
    assert all(re.fullmatch(r"[0-9a-f]{16}", fp) for fp in prints)
    assert len(set(prints)) == len(prints)


def test_fingerprint_ignores_docs_but_not_fields() -> None:
    documented = raw("DeliveryReceipt")
    documented["doc"] = "different words"
    changed = raw("DeliveryReceipt")
    changed["fields"].append({"name": "extra", "type": "int", "default": 0})
    base = REGISTRY.event_type("DeliveryReceipt")

    assert schema_fingerprint(documented) == base.fingerprint
    assert schema_fingerprint(changed) != base.fingerprint


def test_unknown_event_type_is_not_found() -> None:
    with pytest.raises(NotFound, match="DeliveryAnnounced"):
        REGISTRY.schema("DeliveryCancelled")


def test_event_ids_derive_from_coordinates() -> None:
    first = event_id_for("DeliveryAnnounced", "agr-1.v3")
    assert first == event_id_for("DeliveryAnnounced", "agr-1.v3")
    assert first != event_id_for("DeliveryReceipt", "agr-1.v3")
    assert first != event_id_for("DeliveryAnnounced", "agr-1.v4")
    # coordinates are joined with a separator that slugs cannot contain
    assert event_id_for("X", "a", "b") != event_id_for("X", "a\x1fb", "")
    with pytest.raises(InvalidInput):
        event_id_for("DeliveryAnnounced")


def copy_schemas(target: Path) -> Path:
    shutil.copytree(DEFAULT_SCHEMA_DIR, target)
    return target


def write_schema(path: Path, schema: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(schema), encoding="utf-8")


def test_a_schema_without_the_envelope_fields_is_refused(tmp_path: Path) -> None:
    directory = copy_schemas(tmp_path / "events")
    schema = raw("QualityAlert")
    schema["fields"] = [f for f in schema["fields"] if f["name"] != "actor"]
    write_schema(directory / "quality_alert.avsc", schema)

    with pytest.raises(ConfigError, match="'actor'"):
        load_registry(directory)


def test_a_routed_event_without_a_schema_is_refused(tmp_path: Path) -> None:
    directory = copy_schemas(tmp_path / "events")
    (directory / "quality_alert.avsc").unlink()

    with pytest.raises(ConfigError, match="QualityAlert"):
        load_registry(directory)


def test_a_misnamed_schema_file_is_refused(tmp_path: Path) -> None:
    directory = copy_schemas(tmp_path / "events")
    (directory / "quality_alert.avsc").rename(directory / "alerts.avsc")

    with pytest.raises(ConfigError, match=r"quality_alert\.avsc"):
        load_registry(directory)


def test_invalid_avro_is_refused(tmp_path: Path) -> None:
    directory = copy_schemas(tmp_path / "events")
    schema = raw("QualityAlert")
    schema["fields"][-1]["type"] = "decimalish"
    write_schema(directory / "quality_alert.avsc", schema)

    with pytest.raises(ConfigError, match="not valid Avro"):
        load_registry(directory)


def test_previous_schemas_are_known_by_fingerprint(tmp_path: Path) -> None:
    directory = copy_schemas(tmp_path / "events")
    old = raw("QualityAlert")
    old["fields"] = [f for f in old["fields"] if f["name"] != "threshold"]
    write_schema(directory / "previous" / "quality_alert.v1-0.avsc", old)

    registry = load_registry(directory)
    writers = [
        registry.writer(fp)
        for fp in (registry.fingerprint("QualityAlert"), schema_fingerprint(old))
    ]
    assert [(w.event_type, w.is_current) for w in writers if w] == [
        ("QualityAlert", True),
        ("QualityAlert", False),
    ]


def test_a_previous_schema_of_a_removed_event_is_refused(tmp_path: Path) -> None:
    directory = copy_schemas(tmp_path / "events")
    orphan = raw("QualityAlert")
    orphan["name"] = "QualityWarning"
    write_schema(directory / "previous" / "quality_warning.v1.avsc", orphan)

    with pytest.raises(ConfigError):
        load_registry(directory)


def test_key_for_names_the_missing_key_field() -> None:
    with pytest.raises(InvalidInput, match="subscriber_id"):
        REGISTRY.key_for("DeliveryAnnounced", {"actor": "p"})


# -- recorded samples ----------------------------------------------------------------------


def test_every_event_has_a_recorded_sample() -> None:
    assert sorted(v.event_type for v in VECTORS) == REGISTRY.names()


@pytest.mark.parametrize("vector", VECTORS, ids=by_name)
def test_recorded_sample_encodes_to_the_recorded_bytes(vector: Vector) -> None:
    buffer = io.BytesIO()
    schemaless_writer(buffer, REGISTRY.schema(vector.event_type), vector.body, strict=True)

    assert buffer.getvalue() == vector.avro
    assert vector.fingerprint == REGISTRY.fingerprint(vector.event_type), (
        "The schema changed: check it against tests/vectors/events/v1, then re-record the sample."
    )


@pytest.mark.parametrize("vector", VECTORS, ids=by_name)
def test_recorded_bytes_decode_to_the_recorded_sample(vector: Vector) -> None:
    decoded = schemaless_reader(io.BytesIO(vector.avro), REGISTRY.schema(vector.event_type))

    assert as_recorded(decoded) == vector.body


# -- compatibility -------------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS, ids=by_name)
def test_current_schema_reads_what_v1_producers_wrote(vector: Vector) -> None:
    frozen_path = FROZEN_V1_DIR / f"{snake_case(vector.event_type)}.avsc"
    frozen = json.loads(frozen_path.read_text(encoding="utf-8"))

    problems = check_compatible(frozen, raw(vector.event_type), samples(frozen, vector.body))

    assert problems == []


def test_every_current_schema_has_a_frozen_v1() -> None:
    frozen = {path.stem for path in FROZEN_V1_DIR.glob("*.avsc")}
    assert frozen == {snake_case(name) for name in REGISTRY.names()}


RECEIPT = next(v for v in VECTORS if v.event_type == "DeliveryReceipt")


def changed_schema(change: str) -> dict[str, Any]:
    """DeliveryReceipt (or, for enums, QualityAlert) with one breaking change."""
    schema = raw("DeliveryReceipt")
    fields = schema["fields"]
    if change == "required field added":
        fields.append({"name": "landing_host", "type": "string"})
    elif change == "type narrowed":
        next(f for f in fields if f["name"] == "row_count")["type"] = "int"
    elif change == "type changed":
        next(f for f in fields if f["name"] == "row_count")["type"] = "string"
    elif change == "field renamed":
        next(f for f in fields if f["name"] == "sha256")["name"] = "checksum"
    elif change == "enum symbol removed":
        schema = raw("QualityAlert")
        severity = next(f for f in schema["fields"] if f["name"] == "severity")
        severity["type"]["symbols"] = ["info", "warning"]
    return schema


@pytest.mark.parametrize(
    "change",
    [
        "required field added",
        "type narrowed",
        "type changed",
        "field renamed",
        "enum symbol removed",
    ],
)
def test_the_harness_catches_breaking_changes(change: str) -> None:
    new = changed_schema(change)
    name = new["name"]
    old = raw(name)
    recorded = next(v for v in VECTORS if v.event_type == name).body
    big = {**recorded, "row_count": 2**40} if name == "DeliveryReceipt" else recorded

    problems = check_compatible(old, new, [*samples(old, recorded), big])

    assert problems, f"{change} should be incompatible"


def test_the_harness_accepts_safe_changes() -> None:
    new = raw("DeliveryReceipt")
    new["fields"].append({"name": "landing_host", "type": ["null", "string"], "default": None})
    next(f for f in new["fields"] if f["name"] == "sha256")["aliases"] = ["checksum"]
    new["fields"] = [f for f in new["fields"] if f["name"] != "version"]  # readers may drop

    assert check_compatible(raw("DeliveryReceipt"), new, samples(new, RECEIPT.body)) == []


def test_the_harness_needs_samples_that_fit_the_old_schema() -> None:
    old = raw("DeliveryReceipt")
    with pytest.raises(InvalidInput, match="at least one"):
        check_compatible(old, old, [])
    with pytest.raises(InvalidInput, match="does not fit"):
        check_compatible(old, old, [{"event_id": "x"}])


# -- no secrets ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", REGISTRY.names())
def test_no_event_has_a_secret_looking_field(name: str) -> None:
    assert secret_looking_fields(raw(name)) == []


def test_the_secret_scan_finds_planted_fields() -> None:
    schema = raw("DeliveryAnnounced")
    schema["fields"].append({"name": "download_URL", "type": "string"})
    schema["fields"].append(
        {
            "name": "auth",
            "type": [
                "null",
                {
                    "type": "record",
                    "name": "A",
                    "fields": [
                        {"name": "sts_token", "type": "string"},
                    ],
                },
            ],
        }
    )
    assert secret_looking_fields(schema) == ["download_URL", "sts_token"]
