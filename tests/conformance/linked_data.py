"""Other people's validators, run offline on the linked data we export (README.md here).

- :func:`definition_errors`: one definition of a Dataspace Protocol 2025-1 JSON schema
  (whole messages: :func:`tests.conformance.dsp.errors`);
- :func:`expand`: JSON-LD expansion (pyld) that resolves the DSP contexts from the local
  copies and fails the test on any other fetch;
- :func:`relative_iris`: what a processor would leave as a relative IRI;
- :func:`shacl`: a SHACL report (pyshacl) of an expanded document against a shapes file.
"""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft201909Validator
from pyld import jsonld
from pyld.context_resolver import ContextResolver
from pyshacl import validate
from rdflib import Graph

from tests.conformance import dsp

CONFORMANCE = Path(__file__).parent
DSP = dsp.ROOT
DSP_CONTEXT_URL = "https://w3id.org/dspace/2025/1/context.jsonld"
CONTEXTS = {
    DSP_CONTEXT_URL: DSP / "context" / "dspace.jsonld",
    "https://w3id.org/dspace/2025/1/odrl-profile.jsonld": DSP / "context" / "odrl.jsonld",
}
DSP_BASE = "https://w3id.org/dspace/2025/1/"
DCAT_AP_SHAPES = CONFORMANCE / "dcat-ap-3.0.1" / "shapes.ttl"
W3C_ODRL_SHAPES = CONFORMANCE / "odrl" / "shacl.ttl"
ODRL_MODEL_SHAPES = CONFORMANCE / "odrl-2.2-model" / "shapes.ttl"
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def definition_errors(instance: Any, schema: str, definition: str) -> list[str]:
    """Every violation of the ``definition`` in the DSP ``schema`` (its path under the DSP
    base, e.g. ``negotiation/contract-schema.json``); empty when ``instance`` is valid."""
    ref = f"{DSP_BASE}{schema}#/definitions/{definition}"
    validator = Draft201909Validator({"$ref": ref}, registry=dsp.registry())
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]


def _offline_loader(url: str, options: Any = None) -> dict[str, Any]:
    if url not in CONTEXTS:
        raise AssertionError(f"expansion must not need to fetch {url}")
    document = json.loads(CONTEXTS[url].read_text(encoding="utf-8"))
    return {"contentType": "application/ld+json", "contextUrl": None, "documentUrl": url,
            "document": document}  # fmt: skip


def expand(document: Any) -> list[dict[str, Any]]:
    """``document`` expanded by pyld, the DSP contexts resolved from tests/conformance.

    Each call resolves contexts afresh: with pyld's shared cache, expanding a DSP Dataset (its
    scoped context @imports the ODRL profile) made a later ContractAgreementMessage lose its
    ``agreement`` silently (pyld 3.3.0)."""
    options = {
        "documentLoader": _offline_loader,
        "contextResolver": ContextResolver({}, _offline_loader),  # a cache for this call only
    }
    return jsonld.expand(copy.deepcopy(document), options)  # type: ignore[no-any-return]


def relative_iris(expanded: Any) -> list[str]:
    """Every @id, @type or property of ``expanded`` that is neither an absolute IRI nor a
    blank node, i.e. what a JSON-LD processor could not resolve."""
    found: list[str] = []
    if isinstance(expanded, list):
        for item in expanded:
            found += relative_iris(item)
    elif isinstance(expanded, dict):
        if "@value" in expanded:
            kind = expanded.get("@type")
            return [kind] if kind and not _ABSOLUTE.match(kind) else []
        for key, value in expanded.items():
            if not key.startswith("@") and not _ABSOLUTE.match(key):
                found.append(key)
            if key in ("@id", "@type"):
                for iri in value if isinstance(value, list) else [value]:
                    if not (iri.startswith("_:") or _ABSOLUTE.match(iri)):
                        found.append(iri)
            else:
                found += relative_iris(value)
    return found


def graph_of(expanded: Any) -> Graph:
    """The RDF graph of an expanded document, through pyld's N-Quads (the default graph).

    Not rdflib's own JSON-LD parser: it warns that it uses the deprecated ConjunctiveGraph."""
    nquads = jsonld.to_rdf(expanded, {"format": "application/n-quads"})
    return Graph().parse(data=nquads, format="nt")


@cache
def _shapes(path: Path) -> Graph:
    return Graph().parse(path, format="turtle")


def shacl(data: Graph, shapes: Path) -> tuple[bool, str]:
    """Whether ``data`` conforms to the shapes in ``shapes``, and pyshacl's report text."""
    conforms, _, text = validate(data, shacl_graph=_shapes(shapes), inference="none")
    return bool(conforms), str(text)
