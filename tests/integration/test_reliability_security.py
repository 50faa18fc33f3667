"""Security of issue 6 on the real stack, beyond what the older tests prove (see
``tests/reliability/suite.py``): object keys are useless without a grant, hostile ids,
column names and filters are refused wherever they enter, and no secret or private key
reaches a log, an output or an error message of a real run.
"""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import boto3
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, select

from dataspace.config import Settings
from dataspace.controlplane import ledger, negotiations, releases
from dataspace.dataplane.download import landing_path
from dataspace.errors import InvalidInput, NotFound, Unauthorized
from dataspace.identity.keystore import MASK_SECRET_FILE
from dataspace.node import Node
from dataspace.policy.model import parse_policy
from dataspace.publishing.publish import publish
from dataspace.store.models import DeliveryRow, LedgerEntryRow, OutboxRow, ParticipantRow
from tests.fixtures.controlplane import PURPOSE, Space
from tests.integration.test_delivery_faults import agent_environment
from tests.reliability.cli import run_cli
from tests.reliability.record import record
from tests.worlds.chain_world import Chain

pytestmark = pytest.mark.integration
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

HOSTILE_IDS = [
    "../../etc/passwd",
    "po/../../secret",
    "..",
    "a'; DROP TABLE participants; --",
    'x" OR "1"="1',
    "%2e%2e%2fetc",
    "supplier-01\n",
    "name\x00.pem",
    "$(touch pwned)",
    "UPPER",
    "采购",
    "a" * 300,
]
# What is refused as a column name (upper case is a fine column name, not a fine id).
HOSTILE_COLUMNS = [bad for bad in HOSTILE_IDS if bad != "UPPER"]


@pytest.fixture
def chain(space: Space, stack_settings: Settings, unique: str, tmp_path: Path) -> Chain:
    isolated = stack_settings.model_copy(update={"release_bucket": f"rel-{unique}"})
    chain = Chain(space, isolated, unique, tmp_path)
    chain.agree(1, "own rows")
    chain.agree(2, "masked price")
    assert chain.publish(chain.orders(1), "week-1").events_pending == 0
    return chain


def get(url: str) -> int:
    """The HTTP status of a plain GET, reading the body (200 means bytes were served)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


def view_keys(chain: Chain) -> dict[str, str]:
    with chain.db.transaction() as session:
        return {row.subscriber_id: row.object_key for row in session.scalars(select(DeliveryRow))}


@pytest.mark.reliability("security", "object keys useless without a grant")
@SQLITE_ONLY
def test_object_keys_are_useless_without_a_grant(chain: Chain) -> None:
    one, two = chain.supplier(1), chain.supplier(2)
    keys = view_keys(chain)
    endpoint = chain.settings.s3()
    bucket = chain.settings.release_bucket
    own = chain.control(one).grant(releases.delivery_id(chain.agreements[one], 1))
    assert get(own.url) == 200  # a grant works: the refusals below are not a broken URL

    attempts: list[tuple[str, int | str]] = []
    for key in [*keys.values(), f"{chain.product}/1/part-0.parquet"]:
        attempts.append((f"anonymous GET {key}", get(f"{endpoint.url}/{bucket}/{key}")))
        attempts.append(
            (f"other credentials {key}", other_credentials_get(endpoint.url, bucket, key))
        )
    # A grant's URL pointed at another subscriber's object: the signature covers the path.
    parts = urlsplit(own.url)
    swapped = urlunsplit(parts._replace(path=f"/{bucket}/{keys[two]}"))
    attempts.append(("supplier 1's grant on supplier 2's key", get(swapped)))
    # Supplier 1 asking a grant for supplier 2's delivery: refused.
    with pytest.raises(Unauthorized):
        chain.control(one).grant(releases.delivery_id(chain.agreements[two], 1))
    attempts.append(("grant for another's delivery", "refused"))

    served = [what for what, status in attempts if status == 200]
    record.reads(attempted=len(attempts), succeeded=len(served))
    assert served == []
    # Swift's s3api answers an anonymous request 400, a bad signature 403: no bytes either way.
    assert all(s == "refused" or 400 <= int(s) < 500 for _, s in attempts), attempts


def other_credentials_get(url: str, bucket: str, key: str) -> int | str:
    client = boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id="intruder:intruder",
        aws_secret_access_key="not-the-secret",
        region_name="us-east-1",
    )
    try:
        client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])
    return 200


# -- injection -----------------------------------------------------------------------------------


def refused(call: object) -> bool:
    """True if ``call()`` was refused with a project error of one line (never anything else)."""
    try:
        call()  # type: ignore[operator]
    except (InvalidInput, NotFound, Unauthorized) as exc:
        return "\n" not in str(exc)
    return False


def footprint(chain: Chain) -> tuple[int, ...]:
    with chain.db.transaction() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (ParticipantRow, DeliveryRow, LedgerEntryRow, OutboxRow)
        )


@pytest.mark.reliability("security", "injection through ids, column names and filters refused")
@SQLITE_ONLY
def test_hostile_ids_columns_and_filters_are_refused_everywhere(
    chain: Chain, tmp_path: Path
) -> None:
    one = chain.supplier(1)
    control = chain.control(one)
    node = Node(chain.settings, chain.db, chain.space.keys)  # refused before it relays anything
    before = footprint(chain)
    for bad in HOSTILE_IDS:
        entries = {
            "agreement request as": lambda bad=bad: negotiations.request(
                chain.db, chain.space.keys, consumer=bad, product_id=chain.product, purpose=PURPOSE
            ),
            "agreement request for product": lambda bad=bad: negotiations.request(
                chain.db, chain.space.keys, consumer=one, product_id=bad, purpose=PURPOSE
            ),
            "grant of delivery": lambda bad=bad: control.grant(bad),
            "landing path of product": lambda bad=bad: landing_path(tmp_path / "landing", bad, 1),
            "publish product": lambda bad=bad: publish(
                node,
                product_id=bad,
                provider="xcmg",
                source=tmp_path / "none.parquet",
            ),
            "publish as": lambda bad=bad: publish(
                node,
                product_id=chain.product,
                provider=bad,
                source=tmp_path / "none.parquet",
            ),
        }
        for duty in column_duties(bad) if bad in HOSTILE_COLUMNS else []:
            entries[f"policy duty {duty['action']}"] = lambda duty=duty: parse_policy(
                {"uid": "u", "permission": [{"action": "use", "duty": [duty]}]}
            )
        failed = [name for name, call in entries.items() if not refused(call)]
        record.hostile("injection through ids and column names", len(entries))
        assert failed == [], f"{bad!r} was not refused by {failed}"
    assert footprint(chain) == before
    assert not any(p.name in ("passwd", "pwned", "secret") for p in tmp_path.rglob("*"))
    assert ledger.verify(chain.db).ok


def column_duties(bad: str) -> list[dict[str, object]]:
    return [
        {"action": "filterRows", "column": bad},
        {"action": "project", "columns": ["week", bad]},
        {"action": "mask", "columns": [bad], "method": "hash"},
    ]


@pytest.mark.reliability("security", "injection through ids, column names and filters refused")
@SQLITE_ONLY
def test_hostile_input_through_the_cli_is_one_line_and_changes_nothing(
    chain: Chain,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    env = agent_environment(chain.settings, chain.db, tmp_path)
    good = chain.tmp / "inputs" / "week-1.parquet"
    hostile_columns = tmp_path / "columns.parquet"
    table = chain.orders(2)
    renamed = [*table.column_names[:-1], 'x"; DROP TABLE releases;--']
    pq.write_table(table.rename_columns(renamed), hostile_columns)
    cases = [
        ["publish", "--product", "../../etc/passwd", "--as", "xcmg", str(good)],
        ["publish", "--product", chain.product, "--as", "x'; DROP TABLE participants;--",
         str(good)],
        ["publish", "--product", chain.product, "--as", "xcmg", str(hostile_columns)],
        ["subscribe", "--as", "../../../evil", "--once", "--landing", str(tmp_path / "l")],
        ["participant", "show", "../xcmg"],
        ["agreement", "request", "--as", chain.supplier(1), "--product", "x' OR '1'='1",
         "--purpose", PURPOSE],
    ]  # fmt: skip
    before = footprint(chain)
    for args in cases:
        ran = run_cli(monkeypatch, capfd, caplog, env, *args)
        record.hostile("injection through the CLI")
        assert ran.code in (2, 3, 5), (args, ran.stderr)
        assert "Traceback" not in ran.stderr
        assert len(ran.stderr.strip().splitlines()) == 1, ran.stderr
    search = run_cli(
        monkeypatch,
        capfd,
        caplog,
        env,
        "product",
        "list",
        "--search",
        "'; DROP TABLE products;--",
        "--json",
    )
    assert search.code == 0, search.stderr
    assert json.loads(search.stdout) == []  # a filter is text to look for, never SQL
    assert footprint(chain) == before
    assert not (tmp_path.parent / "evil").exists()
    assert ledger.verify(chain.db).ok


# -- secrets -------------------------------------------------------------------------------------


def secret_needles(chain: Chain) -> dict[str, bytes]:
    """Every secret of the node, in every spelling a leak could take."""
    needles: dict[str, bytes] = {}
    secret = chain.settings.s3().secret_key.get_secret_value().encode()
    needles["S3 secret"] = secret
    keys_dir = chain.space.keys.directory
    for pem in keys_dir.glob("*.pem"):
        private = serialization.load_pem_private_key(pem.read_bytes(), password=None)
        raw = private.private_bytes(  # type: ignore[union-attr]
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        body = b"".join(pem.read_bytes().splitlines()[1:-1])
        needles |= spellings(f"private key {pem.stem}", raw)
        needles[f"PEM body {pem.stem}"] = body[:40]
    mask = (keys_dir / MASK_SECRET_FILE).read_bytes()
    needles |= spellings("mask secret", mask)
    for agreement in chain.agreements.values():
        needles |= spellings(f"salt of {agreement}", chain.space.keys.mask_salt(agreement))
    return needles


def spellings(name: str, raw: bytes) -> dict[str, bytes]:
    return {
        f"{name} (hex)": raw.hex().encode(),
        f"{name} (base64)": base64.b64encode(raw).rstrip(b"="),
        f"{name} (base64url)": base64.urlsafe_b64encode(raw).rstrip(b"="),
    }


def runs(chain: Chain, tmp_path: Path, *fixtures: object) -> Iterator[tuple[str, str]]:
    """Real commands of the node, happy and failing, with everything they print and log."""
    env = agent_environment(chain.settings, chain.db, tmp_path)
    wrong_secret = {**env, "DATASPACE_S3_SECRET_KEY": "wrong-" + hashlib.sha256(b"x").hexdigest()}
    source = chain.tmp / "inputs" / "week-1.parquet"
    commands = [
        ("publish", env, ["publish", "--product", chain.product, "--as", "xcmg", str(source)]),
        ("relay", env, ["relay", "--once"]),
        ("subscribe", env, ["subscribe", "--as", chain.supplier(1), "--once", "--resync"]),
        ("subscribe, wrong S3 secret", wrong_secret,
         ["subscribe", "--as", chain.supplier(2), "--once", "--resync"]),
        ("publish, wrong S3 secret", wrong_secret,
         ["publish", "--product", chain.product, "--as", "xcmg", str(source)]),
        ("ledger verify", env, ["ledger", "verify"]),
    ]  # fmt: skip
    for name, chosen, args in commands:
        ran = run_cli(*fixtures, chosen, *args)  # type: ignore[arg-type]
        yield name, ran.stdout + ran.stderr + ran.logged


@pytest.mark.reliability("security", "secrets never in logs or errors; key files 0600")
@SQLITE_ONLY
def test_no_secret_reaches_a_log_an_output_or_an_error(
    *,
    chain: Chain,
    stack_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    needles = secret_needles(chain)
    ran = runs(chain, tmp_path, monkeypatch, capfd, caplog)
    captured = {name: text.encode() for name, text in ran}
    for log in [*stack_settings.logs_dir.glob("*.log"), *tmp_path.rglob("*.log")]:
        captured[f"log {log.name}"] = log.read_bytes()
    assert b"Error" in captured["publish, wrong S3 secret"]  # the failing runs did fail

    leaks = [
        (where, what)
        for where, text in captured.items()
        for what, needle in needles.items()
        if needle in text
    ]
    record.figure("security", "outputs and logs scanned", len(captured))
    record.figure("security", "secret spellings looked for", len(needles))
    assert leaks == []
    secret_files = [
        *chain.space.keys.directory.iterdir(),
        *stack_settings.state_dir.glob("s3-credentials.json"),
    ]
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in secret_files}
    assert modes
    assert set(modes.values()) == {0o600}, modes
