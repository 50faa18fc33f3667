"""The data plane against the real object store: release, ten views, idempotence, landing."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from dataspace.adapters.s3 import arrow_filesystem, ensure_bucket, minio_client
from dataspace.config import Settings
from dataspace.dataplane.download import ChecksumMismatch, land, url_opener
from dataspace.dataplane.layout import StoredObject
from dataspace.dataplane.objects import ObjectStore
from dataspace.dataplane.release import write_release
from dataspace.dataplane.views import ViewRequest, derive_views
from dataspace.policy.model import Mask, ViewSpec
from dataspace.policy.vocabulary import MaskMethod
from tests.worlds.dataplane_data import orders

pytestmark = pytest.mark.integration

PRODUCT = "purchase-orders"


@pytest.fixture
def store(stack_settings: Settings, unique: str) -> ObjectStore:
    bucket = f"dataplane-{unique}"
    ensure_bucket(minio_client(stack_settings.s3()), bucket)
    return ObjectStore(arrow_filesystem(stack_settings.s3()), bucket)


def read_back(store: ObjectStore, stored: StoredObject) -> pa.Table:
    with store.open_input(stored.key) as source:
        data = source.read()
    assert hashlib.sha256(data).hexdigest() == stored.sha256
    return pq.read_table(pa.BufferReader(data))


def spec_for(n: int) -> ViewSpec:
    if n % 2:
        return ViewSpec(
            columns=("order_id", "supplier_id", "quantity", "contact_phone"),
            masks=(Mask("contact_phone", MaskMethod.HASH),),
            row_filter_column="supplier_id",
        )
    return ViewSpec(row_filter_column="supplier_id")


def test_a_release_and_ten_views_round_trip(store: ObjectStore) -> None:
    table = orders(30_000, suppliers=12)
    stored = write_release(store, PRODUCT, 1, table.schema, table.to_batches(4096))
    requests = [
        ViewRequest(f"sup-{n:03d}", f"agr-{n}", spec_for(n), f"salt-{n}".encode())
        for n in range(10)
    ]
    views = derive_views(store, stored, requests, product=PRODUCT, version=1)

    assert read_back(store, stored).equals(table)
    for n, view in enumerate(views):
        got = read_back(store, view.stored)
        mine = table.filter(pc.equal(table.column("supplier_id"), f"sup-{n:03d}"))
        assert got.num_rows == view.stored.rows == 2500
        assert set(got.column("supplier_id").to_pylist()) == {f"sup-{n:03d}"}
        assert got.column("order_id").equals(mine.column("order_id"))
        if n % 2:
            assert got.column_names == ["order_id", "supplier_id", "quantity", "contact_phone"]
            salt = f"salt-{n}".encode()
            digests = [
                None if phone is None else hashlib.sha256(salt + phone.encode()).hexdigest()
                for phone in mine.column("contact_phone").to_pylist()
            ]
            assert got.column("contact_phone").to_pylist() == digests
        else:
            assert got.column_names == table.column_names


def test_rewriting_a_release_gives_the_same_key_and_no_duplicate(store: ObjectStore) -> None:
    table = orders(5000)
    first = write_release(store, PRODUCT, 2, table.schema, table.to_batches())
    again = write_release(store, PRODUCT, 2, table.schema, table.to_batches(1000))
    assert again == first
    listed = store.filesystem.get_file_info(
        pa.fs.FileSelector(store.path(f"{PRODUCT}/2"), recursive=True)
    )
    assert sorted(info.path.split("/", 1)[1] for info in listed if info.is_file) == [
        first.key,
        first.key + ".manifest.json",
    ]


def test_a_tampered_object_is_refused_and_nothing_lands(
    stack_settings: Settings, store: ObjectStore, tmp_path: Path
) -> None:
    table = orders(2000)
    stored = write_release(store, PRODUCT, 3, table.schema, table.to_batches())
    client = minio_client(stack_settings.s3())
    url = client.presigned_get_object(store.bucket, stored.key, expires=timedelta(minutes=2))

    landed = land(url_opener(url), stored, tmp_path, PRODUCT, 3)
    assert pq.read_table(landed).equals(table)

    # Someone with write access swaps the object for another valid Parquet file.
    other = orders(2000, offset=1)
    with store.filesystem.open_output_stream(store.path(stored.key)) as out:
        pq.write_table(other, out)
    with pytest.raises(ChecksumMismatch, match="not the delivered object"):
        land(url_opener(url), stored, tmp_path / "elsewhere", PRODUCT, 3)
    assert list((tmp_path / "elsewhere").rglob("*.parquet*")) == []
