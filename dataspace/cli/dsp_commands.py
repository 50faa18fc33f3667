"""`dataspace connector dsp ...`: this connector's side of the Dataspace Protocol.

A consumer browses a provider's catalog, negotiates and asks for transfers with the
provider's connector directly (its base URL is enough); each step it takes is also filed
with the hub as its own act. Both connectors must be served (`connector serve`): the other
side answers on them, and their worker sends what each side owes.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any

import typer

from dataspace.cli.connector_wiring import DEFAULT_STATE, StateOption, opened
from dataspace.cli.wiring import JsonFlag, parse_time, print_fields, print_json, print_table

dsp_app = typer.Typer(help="The Dataspace Protocol with other connectors.", no_args_is_help=True)

ProviderOption = Annotated[str, typer.Option("--provider", help="The provider connector's URL.")]
WaitOption = Annotated[
    float, typer.Option("--wait", help="Seconds to wait for the process to settle (0: don't).")
]
SERVE_HINT_SECONDS = 5.0


@dsp_app.command("catalog")
def catalog(provider: ProviderOption, state: StateOption = DEFAULT_STATE,
            as_json: JsonFlag = False) -> None:  # fmt: skip
    """A provider's catalog, asked over the protocol."""
    from dataspace.dsp.client import DspClient  # noqa: PLC0415
    from dataspace.dsp.discovery import discover  # noqa: PLC0415
    from dataspace.dsp.terms import CONTEXT  # noqa: PLC0415

    other = discover(provider)
    with opened(state) as connector:
        client = DspClient(connector.participant, connector.key, log=_log(connector))
        try:
            asked = {"@context": CONTEXT, "@type": "CatalogRequestMessage"}
            answer = client.post(f"{other.address}/catalog/request", other.participant, asked)
        finally:
            client.close()
    if as_json:
        print_json(answer)
        return
    rows = [
        (d["@id"], _title(d), ", ".join(o["@id"] for o in d.get("hasPolicy", ())),
         ", ".join(x["format"] for x in d.get("distribution", ())))
        for d in (answer or {}).get("dataset", ())
    ]  # fmt: skip
    print_table(f"Catalog of {other.participant}", ["dataset", "title", "offers", "formats"], rows)


def _log(connector: Any) -> Any:
    from dataspace.dsp.trace import MessageLog  # noqa: PLC0415

    return MessageLog(connector.directory / "logs")


def _title(dataset: dict[str, Any]) -> str:
    titles = dataset.get("dct:title") or []
    return " / ".join(str(t.get("@value")) for t in titles if isinstance(t, dict))


@dsp_app.command("negotiate")
def negotiate(
    *,
    provider: ProviderOption,
    dataset: Annotated[str, typer.Option(help="The product id (or dataset IRI).")],
    purpose: Annotated[str, typer.Option(help="Purpose of use (slug).")],
    offer: Annotated[str | None, typer.Option(help="Offer id, when it has several.")] = None,
    valid_until: Annotated[str | None, typer.Option(help="ISO 8601 with a timezone.")] = None,
    max_deliveries: Annotated[int | None, typer.Option(min=1)] = None,
    wait: WaitOption = 60.0,
    state: StateOption = DEFAULT_STATE,
    as_json: JsonFlag = False,
) -> None:
    """Request an offer of a provider's dataset and negotiate to a finalized agreement."""
    from dataspace.dsp import negotiation, terms  # noqa: PLC0415
    from dataspace.dsp.client import DspClient  # noqa: PLC0415
    from dataspace.dsp.discovery import discover  # noqa: PLC0415
    from dataspace.store.models import DspNegotiationRow  # noqa: PLC0415

    until: datetime | None = parse_time(valid_until, "--valid-until")
    other = discover(provider)
    with opened(state) as connector:
        client = DspClient(connector.participant, connector.key, log=_log(connector))
        try:
            described = client.get(
                f"{other.address}/catalog/datasets/{terms.dataset_iri(terms.product_of(dataset))}",
                other.participant,
            )
        finally:
            client.close()
        pid = negotiation.start(connector, provider_address=other.address, dataset=described,
                                offer_id=offer, purpose=purpose, valid_until=until,
                                max_deliveries=max_deliveries)  # fmt: skip
        settled = _settle(connector, DspNegotiationRow, pid, ("FINALIZED", "TERMINATED"), wait)
    _report("Negotiation", settled, as_json)


@dsp_app.command("transfer")
def transfer(
    agreement: Annotated[str, typer.Option(help="An agreement negotiated over the protocol.")],
    transfer_format: Annotated[
        str, typer.Option("--format", help="HttpData-PULL (lands what is due, then completes) "
                          "or DeliveryFeed-PULL (a subscription).")
    ] = "HttpData-PULL",
    wait: WaitOption = 60.0,
    state: StateOption = DEFAULT_STATE,
    as_json: JsonFlag = False,
) -> None:  # fmt: skip
    """Ask the provider for a transfer under an agreement made over the protocol."""
    from dataspace.dsp import transfer as transfers  # noqa: PLC0415
    from dataspace.dsp.terms import TransferFormat  # noqa: PLC0415
    from dataspace.errors import InvalidInput  # noqa: PLC0415
    from dataspace.ids import agreement_id  # noqa: PLC0415
    from dataspace.store.models import DspTransferRow  # noqa: PLC0415

    try:
        chosen = TransferFormat(transfer_format)
    except ValueError as exc:
        formats = ", ".join(f.value for f in TransferFormat)
        raise InvalidInput(f"--format {transfer_format!r} is not one of {formats}.") from exc
    done = ("COMPLETED", "TERMINATED") if chosen is TransferFormat.HTTP_PULL else (
        "STARTED", "TERMINATED")  # fmt: skip
    with opened(state) as connector:
        pid = transfers.start(connector, agreement=agreement_id(agreement), transfer_format=chosen)
        settled = _settle(connector, DspTransferRow, pid, done, wait)
    _report("Transfer", settled, as_json)


def _step(step: str, help_text: str) -> None:
    def command(
        pid: Annotated[str, typer.Argument(help="This side's transfer process id (dsp list).")],
        reason: Annotated[str, typer.Option(help="Why, for the other side.")] = "by hand",
        state: StateOption = DEFAULT_STATE,
        as_json: JsonFlag = False,
    ) -> None:
        from dataspace.dsp import store  # noqa: PLC0415
        from dataspace.dsp.transfer import take_step  # noqa: PLC0415
        from dataspace.store.models import DspTransferRow  # noqa: PLC0415

        with opened(state) as connector:
            take_step(connector, pid, step, reason)
            with connector.node.db.transaction() as session:
                settled = _plain(store.process(session, DspTransferRow, pid))
        _report("Transfer", settled, as_json, refused_if_terminated=False)

    command.__doc__ = help_text
    dsp_app.command(step)(command)


_step("suspend", "Suspend a started transfer (the other side is told at once).")
_step("resume", "Resume a suspended transfer.")
_step("complete", "Complete a started transfer.")
_step("terminate", "Terminate a transfer for good.")


@dsp_app.command("list")
def list_processes(state: StateOption = DEFAULT_STATE, as_json: JsonFlag = False) -> None:
    """This connector's protocol negotiations and transfers, newest first."""
    from dataspace.store.models import DspNegotiationRow, DspTransferRow  # noqa: PLC0415

    with opened(state) as connector, connector.node.db.transaction() as session:
        rows = [
            _plain(row)
            for model in (DspNegotiationRow, DspTransferRow)
            for row in session.query(model).order_by(model.created_at.desc())
        ]
    if as_json:
        print_json(rows)
        return
    print_table("Protocol processes", ["pid", "kind", "role", "peer", "state", "agreement"],
                [(r["pid"], r["kind"], r["role"], r["peer"], r["state"], r["agreement_id"])
                 for r in rows])  # fmt: skip


def _settle(
    connector: Any, model: Any, pid: str, final: tuple[str, ...], wait: float
) -> dict[str, Any]:
    from dataspace.dsp import store  # noqa: PLC0415

    deadline, started, hinted = time.monotonic() + wait, time.monotonic(), False
    while True:
        with connector.node.db.transaction() as session:
            row = store.process(session, model, pid)
            current = _plain(row)
        if current["state"] in final or time.monotonic() >= deadline:
            return current
        if not hinted and current["outbox"] and time.monotonic() - started > SERVE_HINT_SECONDS:
            typer.echo("(waiting: is `dataspace connector serve` running for this connector?)",
                       err=True)  # fmt: skip
            hinted = True
        time.sleep(0.2)


def _plain(row: Any) -> dict[str, Any]:
    kind = "negotiation" if row.__tablename__ == "dsp_negotiations" else "transfer"
    return {
        "pid": row.pid, "kind": kind, "role": row.role, "peer": row.peer,
        "peer_pid": row.peer_pid, "state": row.state, "agreement_id": row.agreement_id,
        "code": row.code, "last_error": row.last_error, "outbox": row.outbox is not None,
        "history": row.history, **({"format": row.format, "landed": row.landed}
                                   if kind == "transfer" else {}),
    }  # fmt: skip


def _report(
    what: str, settled: dict[str, Any], as_json: bool, *, refused_if_terminated: bool = True
) -> None:
    if as_json:
        print_json(settled)
    else:
        fields = {k: settled[k] for k in ("pid", "peer", "agreement_id", "code", "last_error")
                  if settled.get(k)}  # fmt: skip
        if settled.get("landed"):
            fields["landed"] = ", ".join(settled["landed"])
        print_fields(f"{what} {settled['state']}", fields)
    if refused_if_terminated and settled["state"] == "TERMINATED":
        raise typer.Exit(4)
