"""Our ODRL rendering checked by others' validators: the DSP 2025-1 schemas, JSON-LD expansion
with the DSP contexts, and SHACL shapes of ODRL 2.2 (tests/conformance/README.md)."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dataspace.errors import InvalidInput
from dataspace.policy.model import PROFILE, Policy, parse_policy
from dataspace.policy.odrl import (
    ODRL_CONTEXT,
    VOCAB,
    odrl_policy,
    policy_from_odrl,
    profile_document,
)
from tests.conformance import dsp
from tests.conformance.linked_data import (
    CONTEXTS,
    DSP_CONTEXT_URL,
    ODRL_MODEL_SHAPES,
    W3C_ODRL_SHAPES,
    definition_errors,
    expand,
    graph_of,
    relative_iris,
    shacl,
)

VECTORS = Path(__file__).parents[1] / "vectors" / "policy_vectors.json"
POLICIES = {
    name: parse_policy(source)
    for name, source in json.loads(VECTORS.read_text(encoding="utf-8"))["policies"].items()
    if name != "empty"  # no rule: not an ODRL policy (see test_a_policy_without_rules_...)
}
RICH = parse_policy(
    {
        "uid": "urn:policy:forecast:suppliers",
        "permission": [
            {
                "action": "use",
                "constraint": [
                    {"leftOperand": "purpose", "operator": "isAnyOf",
                     "rightOperand": ["supply-planning"]},
                    {"leftOperand": "recipientRegion", "operator": "isAnyOf",
                     "rightOperand": ["CN"]},
                    {"leftOperand": "dateTime", "operator": "lt",
                     "rightOperand": "2027-01-01T00:00:00Z"},
                    {"leftOperand": "deliveryCount", "operator": "lteq", "rightOperand": 52},
                ],
                "duty": [
                    {"action": "project", "columns": ["supplier_id", "week", "qty"]},
                    {"action": "mask", "columns": ["qty"], "method": "hash"},
                    {"action": "filterRows", "column": "supplier_id"},
                ],
            }
        ],
        "prohibition": [{"action": "distribute"}],
    }
)  # fmt: skip
POLICIES["rich"] = RICH
PROVIDER = "urn:dataspace:participant:xcmg"
CONSUMER = "urn:dataspace:participant:supplier-01"
DATASET = "urn:dataspace:product:purchase-orders"
SIGNED_AT = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
ODRL = "http://www.w3.org/ns/odrl/2/"
CONTRACT = "negotiation/contract-schema.json"


def _offer(policy, **extra):
    return odrl_policy(policy, kind="Offer", policy_id=policy.uid, assigner=PROVIDER, **extra)


def _agreement(policy):
    return odrl_policy(
        policy, kind="Agreement", policy_id="urn:uuid:8a1c0e0a-2f7e-4d5b-9a53-0c9b1c7d1e42",
        assigner=PROVIDER, assignee=CONSUMER, target=DATASET, timestamp=SIGNED_AT,
    )  # fmt: skip


def _in_dataset(offer):
    return {
        "@context": [DSP_CONTEXT_URL], "@id": DATASET, "@type": "Dataset", "hasPolicy": [offer],
        "distribution": [{"@type": "Distribution", "format": "HttpData-PULL",
                          "accessService": "urn:dataspace:connector:xcmg"}],
    }  # fmt: skip


def _offer_message(offer):
    return {
        "@context": [DSP_CONTEXT_URL], "@type": "ContractOfferMessage",
        "providerPid": "urn:uuid:1", "callbackAddress": "https://xcmg.example/dsp", "offer": offer,
    }  # fmt: skip


def _agreement_message(agreement):
    return {
        "@context": [DSP_CONTEXT_URL], "@type": "ContractAgreementMessage",
        "providerPid": "urn:uuid:1", "consumerPid": "urn:uuid:2", "agreement": agreement,
    }  # fmt: skip


def _assert_linked_data_conforms(message):
    expanded = expand(message)
    assert relative_iris(expanded) == []
    graph = graph_of(expanded)
    conforms, report = shacl(graph, ODRL_MODEL_SHAPES)
    assert conforms, report
    # The W3C's own shapes describe evaluation requests only; they must not object either.
    conforms, report = shacl(graph, W3C_ODRL_SHAPES)
    assert conforms, report
    return expanded


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_a_catalog_offer_is_a_dsp_offer_and_valid_odrl(name):
    offer = _offer(POLICIES[name])

    assert definition_errors(offer, CONTRACT, "Offer") == []
    assert dsp.errors(_in_dataset(offer)) == []
    (dataset,) = _assert_linked_data_conforms(_in_dataset(offer))
    (policy,) = dataset[f"{ODRL}hasPolicy"]
    assert policy[f"{ODRL}assigner"] == [{"@id": PROVIDER}]
    assert policy[f"{ODRL}profile"] == [{"@id": PROFILE}]


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_an_offer_in_a_negotiation_is_a_dsp_message_offer_and_valid_odrl(name):
    offer = _offer(POLICIES[name], target=DATASET)

    assert definition_errors(offer, CONTRACT, "MessageOffer") == []
    assert dsp.errors(_offer_message(offer)) == []
    _assert_linked_data_conforms(_offer_message(offer))


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_an_agreement_is_a_dsp_agreement_and_valid_odrl(name):
    agreement = _agreement(POLICIES[name])

    assert definition_errors(agreement, CONTRACT, "Agreement") == []
    message = _agreement_message(agreement)
    assert dsp.errors(message) == []
    (expanded,) = _assert_linked_data_conforms(message)
    (policy,) = expanded["https://w3id.org/dspace/2025/1/agreement"]
    assert policy[f"{ODRL}assignee"] == [{"@id": CONSUMER}]
    assert policy[f"{ODRL}target"] == [{"@id": DATASET}]
    assert agreement["timestamp"] == "2026-12-07T09:30:00Z"


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_every_kind_reads_back_to_the_same_policy(name):
    policy = POLICIES[name]
    for document in (_offer(policy), _offer(policy, target=DATASET), _agreement(policy)):
        assert policy_from_odrl(document) == Policy(
            document["@id"], policy.permissions, policy.prohibitions
        )


def test_the_profile_terms_and_typed_values_expand_to_the_expected_iris():
    (dataset,) = expand(_in_dataset(_offer(RICH)))
    (permission,) = dataset[f"{ODRL}hasPolicy"][0][f"{ODRL}permission"]
    duties = [duty[f"{ODRL}action"][0]["@id"] for duty in permission[f"{ODRL}duty"]]
    assert duties == [VOCAB + "project", VOCAB + "mask", VOCAB + "filterRows"]
    project, mask, _ = permission[f"{ODRL}duty"]
    assert project[VOCAB + "columns"] == [
        {"@list": [{"@value": c} for c in ("supplier_id", "week", "qty")]}
    ]
    assert mask[VOCAB + "method"] == [{"@id": VOCAB + "hash"}]
    (window,) = expand(_in_dataset(_offer(POLICIES["window"])))
    constraints = window[f"{ODRL}hasPolicy"][0][f"{ODRL}permission"][0][f"{ODRL}constraint"]
    assert constraints[0][f"{ODRL}leftOperand"] == [{"@id": f"{ODRL}dateTime"}]
    assert constraints[0][f"{ODRL}rightOperand"][0]["@type"] == (
        "http://www.w3.org/2001/XMLSchema#dateTime"
    )


def test_every_profile_iri_written_is_defined_in_the_published_profile_document():
    document = profile_document()
    defined = {
        node["@id"].replace("ds:", VOCAB): node
        for node in document["@graph"]
        if node["@id"].startswith("ds:")
    }
    written = set()
    for policy in POLICIES.values():
        written |= set(_profile_iris(expand(_offer_message(_offer(policy, target=DATASET)))))
    assert written
    assert written <= set(defined)
    for node in defined.values():
        assert node["rdfs:label"]["@language"] == "en"
        assert node["rdfs:comment"]["@value"]
        assert node["rdfs:isDefinedBy"] == {"@id": PROFILE}
    context_iris = {
        (value if isinstance(value, str) else value["@id"]).replace("ds:", VOCAB)
        for key, value in document["@context"].items()
        if not key.startswith("@") and key not in ("odrl", "rdf", "rdfs", "dct", "ds")
    }
    assert context_iris <= set(defined)


def _profile_iris(node):
    if isinstance(node, list):
        return [iri for item in node for iri in _profile_iris(item)]
    if isinstance(node, dict):
        found = [key for key in node if key.startswith(VOCAB)]
        found += [node["@id"]] if str(node.get("@id", "")).startswith(VOCAB) else []
        return found + [iri for value in node.values() for iri in _profile_iris(value)]
    return []


def test_the_profile_document_expands_offline_to_absolute_iris():
    expanded = expand(profile_document())
    assert expanded
    assert relative_iris(expanded) == []
    assert profile_document() is not profile_document()  # a fresh copy for every caller


def test_the_inline_odrl_terms_mean_what_the_dsp_context_says():
    dsp = json.loads(
        CONTEXTS["https://w3id.org/dspace/2025/1/odrl-profile.jsonld"].read_text(encoding="utf-8")
    )["@context"]
    for term, definition in ODRL_CONTEXT.items():
        assert dsp[term] == definition, term


def test_the_odrl_shapes_refuse_an_offer_without_an_assigner():
    offer = _offer(POLICIES["purpose"])
    del offer["assigner"]

    conforms, report = shacl(graph_of(expand(_in_dataset(offer))), ODRL_MODEL_SHAPES)

    assert not conforms
    assert "assigner" in report


def test_the_odrl_shapes_refuse_an_agreement_without_an_assignee():
    agreement = _agreement(POLICIES["purpose"])
    del agreement["assignee"]

    conforms, report = shacl(graph_of(expand(_agreement_message(agreement))), ODRL_MODEL_SHAPES)

    assert not conforms
    assert "assignee" in report


def test_an_agreement_needs_an_assignee_and_a_target():
    with pytest.raises(InvalidInput, match="assignee and a target"):
        odrl_policy(POLICIES["purpose"], kind="Agreement", policy_id="urn:uuid:1",
                    assigner=PROVIDER, target=DATASET)  # fmt: skip


def test_a_policy_without_rules_is_not_rendered():
    with pytest.raises(InvalidInput, match="no rule"):
        _offer(Policy("urn:policy:empty"))


def _with(path, value):
    document = _offer(RICH, target=DATASET)
    node = document
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return document


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "must be a JSON object"),
        (_with(["@type"], "Ticket"), "neither an IRI nor a term"),
        (_with(["@type"], "odrl:Ticket"), "is not Offer, Agreement or Set"),
        (_with(["profile"], "urn:other:profile"), "only that profile is understood"),
        (_with(["obligation"], [{"action": "odrl:compensate"}]), "key 'obligation'"),
        (_with(["permission", 0, "action"], "odrl:print"), "outside the profile"),
        (_with(["permission", 0, "action"], "print"), "neither an IRI nor a term"),
        (_with(["permission", 0, "constraint", 0], {"and": []}), "key 'and'"),
        (_with(["permission", 0, "constraint", 0, "leftOperand"], "odrl:spatial"), "outside"),
        (_with(["permission", 0, "constraint", 0, "operator"], "odrl:eq"), "unknown value 'eq'"),
        (_with(["permission", 0, "duty", 0, "action"], "odrl:anonymize"), "outside the profile"),
        (_with(["permission", 0, "duty", 1, VOCAB + "method"], {"@id": VOCAB + "x"}), "method"),
        (_with(["permission", 0, "constraint", 1, "rightOperand"], ["Jiangsu"]), "region code"),
        (_with(["prohibition"], [{"action": "odrl:use", "duty": []}]), "key 'duty'"),
    ],
)
def test_documents_outside_the_profile_are_refused_with_one_sentence(document, message):
    with pytest.raises(InvalidInput, match=message) as raised:
        policy_from_odrl(document)
    assert "\n" not in str(raised.value)
