"""Release writing and per-subscriber views, against a local directory as the object store."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataspace.dataplane import views as views_module
from dataspace.dataplane.layout import StoredObject, views_prefix
from dataspace.dataplane.objects import ObjectStore
from dataspace.dataplane.release import write_release
from dataspace.dataplane.slicing import (
    filter_each,
    hash_values,
    is_whole_release,
    partition,
    split_rows,
)
from dataspace.dataplane.views import ViewRequest, derive_views
from dataspace.errors import Conflict, InvalidInput, ServiceError
from dataspace.policy.model import Mask, ViewSpec
from dataspace.policy.vocabulary import MaskMethod
from tests.worlds.dataplane_data import local_store, orders

PRODUCT = "purchase-orders"
SALT = b"salt-of-agreement"
AT_V1 = {"product": PRODUCT, "version": 1}


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return local_store(tmp_path)


def read(store: ObjectStore, stored: StoredObject) -> pa.Table:
    with store.open_input(stored.key) as source:
        data = source.read()
    assert hashlib.sha256(data).hexdigest() == stored.sha256
    assert len(data) == stored.bytes
    table = pq.read_table(pa.BufferReader(data))
    assert table.num_rows == stored.rows
    return table


def release(store: ObjectStore, table: pa.Table, version: int = 1) -> StoredObject:
    return write_release(store, PRODUCT, version, table.schema, table.to_batches(max_chunksize=97))


def test_a_release_is_written_once_with_its_checksum_rows_and_manifest(
    store: ObjectStore,
) -> None:
    table = orders(1000)
    stored = release(store, table)
    assert stored.key == "purchase-orders/1/part-0.parquet"
    assert read(store, stored).equals(table)
    manifest = store.manifest(stored.key)
    assert manifest is not None
    assert manifest.object == stored


def test_writing_the_same_release_again_is_idempotent(store: ObjectStore, tmp_path: Path) -> None:
    first = release(store, orders(500))
    written = (tmp_path / "provider" / first.key).stat().st_mtime_ns
    # Other batch sizes, same rows: row groups are cut by rows, so the bytes are the same.
    again = write_release(store, PRODUCT, 1, orders(1).schema, orders(500).to_batches(33))
    assert again == first
    assert (tmp_path / "provider" / first.key).stat().st_mtime_ns == written


def test_different_content_for_a_written_version_is_a_conflict(store: ObjectStore) -> None:
    release(store, orders(500))
    with pytest.raises(Conflict, match="new version"):
        release(store, orders(501))


def test_a_failed_release_leaves_nothing_behind(store: ObjectStore, tmp_path: Path) -> None:
    def failing() -> object:
        yield from orders(300).to_batches(100)
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        write_release(store, PRODUCT, 1, orders(1).schema, failing())  # type: ignore[arg-type]
    assert list((tmp_path / "provider").rglob("*.parquet*")) == []


def request(subscriber: str, spec: ViewSpec, salt: bytes = SALT) -> ViewRequest:
    return ViewRequest(subscriber, f"agr-{subscriber}", spec, salt)


SLICED = ViewSpec(
    columns=("order_id", "week", "quantity", "unit_price", "contact_phone"),
    masks=(Mask("contact_phone", MaskMethod.HASH), Mask("unit_price", MaskMethod.REDACT)),
    row_filter_column="supplier_id",
)


def test_views_filter_project_and_mask(store: ObjectStore) -> None:
    table = orders(2000, suppliers=7)
    stored = release(store, table)
    views = derive_views(store, stored, [request("sup-003", SLICED)], product=PRODUCT, version=1)
    got = read(store, views[0].stored)
    mine = table.filter(pa.compute.equal(table.column("supplier_id"), "sup-003"))
    assert got.column_names == ["order_id", "week", "quantity", "unit_price", "contact_phone"]
    assert got.column("order_id").equals(mine.column("order_id"))
    assert got.column("quantity").equals(mine.column("quantity"))
    assert got.column("unit_price").null_count == got.num_rows
    assert got.schema.field("unit_price").type == pa.decimal128(12, 2)
    phones = mine.column("contact_phone").to_pylist()
    expected = [
        None if p is None else hashlib.sha256(SALT + p.encode()).hexdigest() for p in phones
    ]
    assert got.column("contact_phone").to_pylist() == expected
    assert views[0].stored.key == "purchase-orders/1/views/agr-sup-003/part-0.parquet"


def test_a_subscriber_without_rows_gets_a_valid_empty_file(store: ObjectStore) -> None:
    stored = release(store, orders(100, suppliers=3))
    (view,) = derive_views(store, stored, [request("sup-999", SLICED)], product=PRODUCT, version=1)
    table = read(store, view.stored)
    assert table.num_rows == 0
    assert table.column_names == ["order_id", "week", "quantity", "unit_price", "contact_phone"]


def test_a_whole_release_view_reuses_the_release_object(store: ObjectStore) -> None:
    stored = release(store, orders(100))
    whole, projected = derive_views(
        store,
        stored,
        [request("sup-001", ViewSpec()), request("sup-002", ViewSpec(columns=("order_id",)))],
        product=PRODUCT,
        version=1,
    )
    assert whole.reuses_release
    assert whole.stored == stored
    assert not projected.reuses_release
    assert read(store, projected.stored).num_rows == 100


def test_many_views_in_one_pass_each_see_only_their_rows(store: ObjectStore) -> None:
    table = orders(5000, suppliers=20)
    stored = release(store, table)
    requests = [request(f"sup-{n:03d}", SLICED, salt=bytes([n])) for n in range(20)]
    # A tiny budget forces short row groups: the contents must not change.
    views = derive_views(store, stored, requests, product=PRODUCT, version=1, memory_budget=4096)
    for n, view in enumerate(views):
        got = read(store, view.stored)
        assert got.num_rows == 250
        assert set(got.column("order_id").to_pylist()) == {
            f"po-{i:08d}" for i in range(n, 5000, 20)
        }


def test_rederiving_views_reuses_them_and_a_changed_policy_conflicts(store: ObjectStore) -> None:
    stored = release(store, orders(300))
    first = derive_views(store, stored, [request("sup-001", SLICED)], product=PRODUCT, version=1)
    again = derive_views(store, stored, [request("sup-001", SLICED)], product=PRODUCT, version=1)
    assert again == first
    with pytest.raises(Conflict):
        derive_views(
            store, stored, [request("sup-001", SLICED, salt=b"other")], product=PRODUCT, version=1
        )


def test_views_derived_together_are_committed_by_one_manifest_and_a_later_one_adds_its_own(
    store: ObjectStore, tmp_path: Path
) -> None:
    stored = release(store, orders(300))
    first = derive_views(
        store, stored, [request("sup-001", SLICED), request("sup-002", SLICED)], **AT_V1
    )
    committed = store.committed_together(views_prefix(PRODUCT, 1))
    assert {key: m.object for key, m in committed.items()} == {
        v.stored.key: v.stored for v in first
    }
    assert len(list((tmp_path / "provider").rglob("*.views.json"))) == 1
    assert list((tmp_path / "provider").rglob("*.manifest.json")) == [
        tmp_path / "provider" / (stored.key + ".manifest.json")
    ]

    # A subscriber added later: the two views are reused (not rewritten), the third committed
    # by a manifest of its own.
    written = [(tmp_path / "provider" / v.stored.key).stat().st_mtime_ns for v in first]
    requests = [request(s, SLICED) for s in ("sup-001", "sup-002", "sup-003")]
    again = derive_views(store, stored, requests, **AT_V1)
    assert again[:2] == first
    assert [(tmp_path / "provider" / v.stored.key).stat().st_mtime_ns for v in first] == written
    assert len(list((tmp_path / "provider").rglob("*.views.json"))) == 2
    assert store.committed_together(views_prefix(PRODUCT, 1))[again[2].stored.key].object == (
        again[2].stored
    )


def test_views_whose_manifest_was_never_written_are_not_committed(
    store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = release(store, orders(300))

    def refuse(key: str, manifests: list[object]) -> None:
        raise ServiceError("the store went away")

    with monkeypatch.context() as patched:
        patched.setattr(store, "commit_together", refuse)
        with pytest.raises(ServiceError):
            derive_views(store, stored, [request("sup-001", SLICED)], **AT_V1)
    assert store.committed_together(views_prefix(PRODUCT, 1)) == {}
    # The retry writes the view again and commits it.
    (view,) = derive_views(store, stored, [request("sup-001", SLICED)], **AT_V1)
    assert read(store, view.stored).num_rows == view.stored.rows


def test_a_view_naming_an_unknown_column_is_refused(store: ObjectStore) -> None:
    stored = release(store, orders(10))
    with pytest.raises(InvalidInput, match="agr-sup-001 names colour"):
        derive_views(
            store,
            stored,
            [request("sup-001", ViewSpec(columns=("colour",)))],
            product=PRODUCT,
            version=1,
        )


def test_hash_masking_is_deterministic_per_salt_and_differs_across_salts() -> None:
    values = pa.array([42, None, 7, 42])
    first = hash_values(values, b"a").to_pylist()
    assert first == hash_values(values, b"a").to_pylist()
    assert first[0] == first[3] == hashlib.sha256(b"a42").hexdigest()
    assert first[1] is None
    assert hash_values(values, b"b").to_pylist()[0] != first[0]


def test_whole_release_detection() -> None:
    assert is_whole_release(ViewSpec())
    assert not is_whole_release(ViewSpec(row_filter_column="supplier_id"))
    assert not is_whole_release(ViewSpec(columns=("a",)))
    assert not is_whole_release(ViewSpec(masks=(Mask("a", MaskMethod.REDACT),)))


def test_partition_agrees_with_one_filter_per_owner_including_nulls() -> None:
    column = pa.array(["b", None, "a", "b", "c", None, "a", "b"])
    owners = ["a", "b", "x", "c"]
    got = [run.to_pylist() for run in partition(column, owners)]
    assert got == [run.to_pylist() for run in filter_each(column, owners)]
    assert got == [[2, 6], [0, 3, 7], [], [4]]


def test_split_rows_gives_each_run_its_rows_in_order() -> None:
    batch = pa.RecordBatch.from_pydict({"n": list(range(8)), "owner": list("babcaxab")})
    runs = partition(batch.column("owner"), ["a", "b", "nobody", "c"])
    got = [part.to_pydict() for part in split_rows(batch, runs)]
    assert got == [batch.take(run).to_pydict() for run in runs]
    assert [part["n"] for part in got] == [[1, 4, 6], [0, 2, 7], [], [3]]
    assert split_rows(batch, [pa.array([], pa.int64())])[0].num_rows == 0


def test_a_rows_only_view_keeps_every_column_of_its_rows(store: ObjectStore) -> None:
    table = orders(400, suppliers=4)
    stored = release(store, table)
    spec = ViewSpec(row_filter_column="supplier_id")
    (view,) = derive_views(store, stored, [request("sup-002", spec)], **AT_V1)
    mine = table.filter(pa.compute.equal(table.column("supplier_id"), "sup-002"))
    assert read(store, view.stored).equals(mine)


def test_a_failure_while_cutting_views_is_raised_and_leaves_no_view(
    store: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = release(store, orders(3000, suppliers=3))
    cut = views_module._route
    batches_seen = []

    def fail_on_the_third(batch: pa.RecordBatch, views: list[object]) -> None:
        batches_seen.append(batch)
        if len(batches_seen) == 3:
            raise ServiceError("the store went away")
        cut(batch, views)  # type: ignore[arg-type]

    monkeypatch.setattr(views_module, "_route", fail_on_the_third)
    monkeypatch.setattr(views_module, "READ_BATCH_ROWS", 100)
    requests = [request(f"sup-{n:03d}", SLICED) for n in range(3)]
    with pytest.raises(ServiceError, match="went away"):
        derive_views(store, stored, requests, **AT_V1)
    assert len(batches_seen) == 3, "batches after the failure are not cut"
    assert list((tmp_path / "provider").rglob("views/*")) == []
