"""`dataspace publicdata sample | upload | connect`: an authority's extract, where a release reads.

``sample`` writes the shipped demo extract (what an authority holds: names, credit codes,
addresses, monthly electricity and emissions); ``upload`` puts a file into the authority's own
bucket with its own S3 user; ``connect`` stores that user as an ``aws`` connection on the node's
Airflow, so a release can name ``{"connection": ..., "object": "bucket/key"}`` as its source.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dataspace.cli.wiring import JsonFlag, print_fields, print_json

if TYPE_CHECKING:
    from dataspace.config import Settings

publicdata_app = typer.Typer(
    help="Public data (公共数据): the demo extract, the authority's bucket and connection.",
    no_args_is_help=True,
)
SAMPLE_FORMATS = (".csv", ".parquet")

ParticipantOption = Annotated[
    str, typer.Option("--as", help="The authority (participant id) whose S3 user acts.")
]


@publicdata_app.command("sample")
def sample(
    out: Annotated[Path, typer.Option(help="Where to write it: a .csv or .parquet file.")],
    enterprises: Annotated[
        int | None,
        typer.Option(min=1, help="Only the first N enterprises (12 rows each); all by default."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Write the shipped demo extract, as an authority holds it, to a CSV or Parquet file."""
    from dataspace.publicdata.extracts import write_sample  # noqa: PLC0415 (when the command runs)

    written = write_sample(out, enterprises)
    if as_json:
        print_json(written)
    else:
        typer.echo(
            f"Wrote {written['rows']} rows ({written['enterprises']} enterprises) of the demo "
            f"extract to {written['path']}."
        )


@publicdata_app.command("upload")
def upload(
    file: Annotated[Path, typer.Argument(help="The extract: a .csv or .parquet file.")],
    destination: Annotated[
        str, typer.Argument(help="bucket/path/file.csv (or .parquet) in the authority's store.")
    ],
    participant: ParticipantOption,
    as_json: JsonFlag = False,
) -> None:
    """Upload FILE into the authority's own bucket with its own S3 user (bucket made if missing)."""
    from dataspace.config import load_settings  # noqa: PLC0415
    from dataspace.publicdata.extracts import upload_extract  # noqa: PLC0415

    uploaded = upload_extract(load_settings(), participant, file, destination)
    if as_json:
        print_json(uploaded)
    else:
        print_fields(f"Uploaded for {participant}", uploaded)


@publicdata_app.command("connect")
def connect(
    participant: ParticipantOption,
    connection: Annotated[
        str, typer.Option(help="The Airflow connection id to add or replace, e.g. js_bureau_s3.")
    ],
    as_json: JsonFlag = False,
) -> None:
    """Add (or replace) an Airflow connection of type aws with the authority's own S3 user."""
    from dataspace.config import load_settings  # noqa: PLC0415

    stored = _store_connection(load_settings(), participant, connection)
    if as_json:
        print_json(stored)
    else:
        typer.echo(
            f"{stored['action'].capitalize()} the Airflow connection {connection} (aws, "
            f"access key {stored['login']}, endpoint {stored['extra']['endpoint_url']}); "
            f'name it in a release as {{"connection": "{connection}", "object": '
            '"<bucket>/<key>"}.'
        )


def _store_connection(settings: Settings, participant: str, connection: str) -> dict[str, Any]:
    """Import the connection from a private file, so the secret never shows in a process list."""
    import json  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    from dataspace.orchestration import node_airflow_environment  # noqa: PLC0415
    from dataspace.private_paths import open_private, private_directory  # noqa: PLC0415
    from dataspace.publicdata.sources import check_connection_id  # noqa: PLC0415
    from dataspace.stack.s3_users import ensure_s3_user  # noqa: PLC0415

    check_connection_id(connection)
    environment = node_airflow_environment(settings)
    credentials = ensure_s3_user(settings, participant)
    facts = {
        "conn_type": "aws",
        "login": credentials.access_key,
        "extra": {"endpoint_url": credentials.endpoint, "region_name": credentials.s3.region},
    }
    existed = _airflow(environment, "connections", "get", connection, "-o", "json").returncode == 0
    document = {connection: {**facts, "password": credentials.secret_key.get_secret_value()}}
    with tempfile.TemporaryDirectory(dir=private_directory(settings.state_dir)) as scratch:
        path = Path(scratch) / "connection.json"
        with open_private(path) as handle:
            handle.write(json.dumps(document).encode())
        done = _airflow(environment, "connections", "import", "--overwrite", str(path))
    if done.returncode or f"Imported connection {connection}" not in done.stdout:
        from dataspace.errors import ServiceError  # noqa: PLC0415

        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ServiceError(
            f"Airflow did not store the connection {connection} ({last[0]}); see "
            f"`dataspace airflow connections list` and {settings.airflow_home}."
        )
    return {"connection": connection, "action": "replaced" if existed else "added", **facts}


def _airflow(environment: dict[str, str], *args: str) -> Any:
    import subprocess  # noqa: PLC0415

    from dataspace.stack.components import venv_script  # noqa: PLC0415

    return subprocess.run(
        [venv_script("airflow"), *args],
        env=environment, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip


def register_commands(app: typer.Typer) -> None:
    app.add_typer(publicdata_app, name="publicdata")
