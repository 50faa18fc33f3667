"""Tests written before this suite that already prove a requirement of issue 6.

They are not written again: :mod:`.plugin` gives each the ``reliability`` marker (so
``pytest -m reliability`` runs them) with the area and line of the report they stand for.
A node id here matches that test and each of its parametrized variants.
"""

from __future__ import annotations

FAULTS = "faults"
SECURITY = "security"
HOSTILE = "hostile input"

_I = "tests/integration/"
_E = "tests/e2e/"
_U = "tests/unit/"

REGISTERED: dict[str, tuple[str, str]] = {
    # -- faults -------------------------------------------------------------------------------
    f"{_I}test_delivery_faults.py::test_a_broker_killed_during_publish_loses_nothing_after_relay": (
        FAULTS,
        "broker SIGKILLed during a publish",
    ),
    f"{_I}test_delivery_faults.py::test_a_broker_that_lost_its_log_is_made_good_by_resync_exactly_once": (  # noqa: E501
        FAULTS,
        "broker SIGKILLed, restarted with an empty log; resync",
    ),
    f"{_I}test_delivery_faults.py::test_a_subscriber_killed_mid_way_lands_everything_exactly_once_on_restart": (  # noqa: E501
        FAULTS,
        "subscriber SIGKILLed between deliveries",
    ),
    f"{_I}test_publish.py::test_a_crash_before_the_transaction_leaves_no_duplicate_on_retry": (
        FAULTS,
        "publish crashed before its transaction, retried",
    ),
    f"{_I}test_store_transactions.py::test_a_database_locked_for_too_long_is_store_busy": (
        FAULTS,
        "control-plane database locked: StoreBusy, one sentence",
    ),
    # -- security: events ---------------------------------------------------------------------
    f"{_I}test_subscriber.py::test_bad_events_are_dead_lettered_with_their_reason_and_the_next_good_one_lands": (  # noqa: E501
        SECURITY,
        "forged, malformed, unknown-schema, re-addressed events dead-lettered (real agent)",
    ),
    f"{_I}test_subscriber.py::test_a_duplicate_announcement_is_ignored": (
        SECURITY,
        "replayed announcement ignored (real agent)",
    ),
    f"{_I}test_subscriber.py::test_a_tampered_object_fails_its_checksum_and_nothing_lands": (
        SECURITY,
        "tampered object refused, nothing lands",
    ),
    f"{_U}test_envelope.py::test_a_tampered_body_has_a_bad_signature": (
        SECURITY,
        "tampered, re-signed and moved event signatures refused",
    ),
    f"{_U}test_envelope.py::test_an_actor_header_swapped_to_another_participant_is_refused": (
        SECURITY,
        "tampered, re-signed and moved event signatures refused",
    ),
    f"{_U}test_envelope.py::test_a_body_resigned_by_another_participant_disagrees_with_its_actor": (
        SECURITY,
        "tampered, re-signed and moved event signatures refused",
    ),
    f"{_U}test_envelope.py::test_an_event_signed_with_an_unregistered_key_is_refused": (
        SECURITY,
        "tampered, re-signed and moved event signatures refused",
    ),
    f"{_U}test_envelope.py::test_a_signature_cannot_be_moved_to_another_event_type": (
        SECURITY,
        "tampered, re-signed and moved event signatures refused",
    ),
    # -- security: grants, agreements, presigned URLs -------------------------------------------
    f"{_I}test_controlplane_deliveries.py::test_someone_elses_delivery_reads_like_a_missing_one": (
        SECURITY,
        "grant for someone else's delivery refused",
    ),
    f"{_I}test_controlplane_deliveries.py::test_a_bad_token_is_unauthorized": (
        SECURITY,
        "grant with a bad token refused",
    ),
    f"{_I}test_controlplane_deliveries.py::test_revocation_takes_effect_at_the_next_grant": (
        SECURITY,
        "revoked or expired agreement refused at once",
    ),
    f"{_I}test_controlplane_deliveries.py::test_an_expired_agreement_is_refused_and_its_end_recorded": (  # noqa: E501
        SECURITY,
        "revoked or expired agreement refused at once",
    ),
    f"{_I}test_subscriber.py::test_a_revoked_agreement_gets_no_grant_and_nothing_lands": (
        SECURITY,
        "revoked or expired agreement refused at once",
    ),
    f"{_I}test_controlplane_deliveries.py::test_a_grant_lives_at_most_fifteen_minutes": (
        SECURITY,
        "presigned URLs expire in minutes and expired ones are refused",
    ),
    f"{_I}test_controlplane_deliveries.py::test_a_real_presigned_url_expires_in_minutes_and_the_store_enforces_it": (  # noqa: E501
        SECURITY,
        "presigned URLs expire in minutes and expired ones are refused",
    ),
    f"{_I}test_object_store.py::test_wrong_credentials_are_rejected": (
        SECURITY,
        "object store refuses wrong credentials",
    ),
    # -- security: the API ----------------------------------------------------------------------
    f"{_I}test_api.py::test_no_or_bad_tokens_get_401": (SECURITY, "API: no or bad signature 401"),
    f"{_I}test_api.py::test_operator_only_operations_get_403_for_others": (
        SECURITY,
        "API: wrong role 403",
    ),
    f"{_I}test_api.py::test_a_consumer_sees_only_its_own_agreements": (
        SECURITY,
        "API: others' agreements invisible",
    ),
    # -- security: the ledger -------------------------------------------------------------------
    f"{_I}test_controlplane_ledger.py::test_changing_any_column_of_one_entry_is_detected_at_that_entry": (  # noqa: E501
        SECURITY,
        "ledger tampering detected: edit, delete, reorder, re-sign",
    ),
    f"{_I}test_controlplane_ledger.py::test_a_deleted_entry_is_detected": (
        SECURITY,
        "ledger tampering detected: edit, delete, reorder, re-sign",
    ),
    f"{_I}test_controlplane_ledger.py::test_a_reordered_pair_is_detected": (
        SECURITY,
        "ledger tampering detected: edit, delete, reorder, re-sign",
    ),
    f"{_I}test_controlplane_ledger.py::test_a_forged_checkpoint_is_detected": (
        SECURITY,
        "ledger tampering detected: edit, delete, reorder, re-sign",
    ),
    f"{_U}test_ledger.py::test_a_resigned_rewrite_breaks_the_link_to_the_next_entry": (
        SECURITY,
        "ledger tampering detected: edit, delete, reorder, re-sign",
    ),
    f"{_U}test_ledger.py::test_checkpoint_detects_a_fully_resigned_rewrite": (
        SECURITY,
        "ledger tampering detected: edit, delete, reorder, re-sign",
    ),
    f"{_E}test_cli_controlplane.py::test_a_tampered_ledger_row_fails_verify_naming_the_entry": (
        SECURITY,
        "ledger tampering detected: edit, delete, reorder, re-sign",
    ),
    # -- security: keys and secrets -------------------------------------------------------------
    f"{_U}test_keys.py::test_saved_key_has_mode_0600_and_round_trips": (
        SECURITY,
        "key files 0600, keys never printed",
    ),
    f"{_U}test_keys.py::test_repr_and_str_hide_the_private_key": (
        SECURITY,
        "key files 0600, keys never printed",
    ),
    f"{_I}test_publish.py::test_the_mask_salt_is_secret_stable_and_per_agreement": (
        SECURITY,
        "mask salt secret and per agreement",
    ),
    f"{_U}test_schema_check.py::test_a_column_name_that_is_not_safe_is_refused": (
        SECURITY,
        "injection through ids and column names refused",
    ),
    f"{_U}test_ids.py::test_invalid_slugs_are_rejected_naming_value_and_rule": (
        SECURITY,
        "injection through ids and column names refused",
    ),
    f"{_U}test_ids.py::test_invalid_column_names": (
        SECURITY,
        "injection through ids and column names refused",
    ),
    f"{_U}test_token_properties.py::test_hs256_keyed_with_the_public_key_is_refused": (
        SECURITY,
        "token algorithm confusion refused (none, HS256 with the public key)",
    ),
    f"{_U}test_token_properties.py::test_any_other_algorithm_is_refused_even_validly_signed": (
        SECURITY,
        "token algorithm confusion refused (none, HS256 with the public key)",
    ),
    f"{_U}test_strict_avro.py::test_an_enum_index_of_minus_one_is_malformed": (
        SECURITY,
        "events fastavro misreads (enum or union index -1) refused",
    ),
    f"{_U}test_strict_avro.py::test_a_union_index_of_minus_one_is_malformed": (
        SECURITY,
        "events fastavro misreads (enum or union index -1) refused",
    ),
    f"{_I}test_private_state.py::test_a_node_keeps_its_database_and_keys_private": (
        SECURITY,
        "state files 0600 in 0700 directories",
    ),
    f"{_I}test_private_state.py::test_a_landed_delivery_and_the_landing_record_are_private": (
        SECURITY,
        "state files 0600 in 0700 directories",
    ),
    # -- hostile input (property tests; the plugin counts their examples) -------------------------
    f"{_U}test_envelope.py::test_random_messages_are_always_rejected_never_crash": (
        HOSTILE,
        "event decoder: random messages",
    ),
    f"{_U}test_envelope.py::test_random_bodies_with_valid_signatures_are_malformed_never_crash": (
        HOSTILE,
        "event decoder: random bodies, valid signatures",
    ),
    f"{_U}test_envelope.py::test_any_flipped_byte_is_caught": (
        HOSTILE,
        "event decoder: every flipped byte",
    ),
    f"{_U}test_tokens.py::test_garbage_is_always_a_clean_refusal": (
        HOSTILE,
        "API tokens: random garbage",
    ),
    f"{_U}test_token_properties.py::test_any_text_is_refused_cleanly": (
        HOSTILE,
        "API tokens: random text, segments and JSON",
    ),
    f"{_U}test_token_properties.py::test_any_three_segments_are_refused_cleanly": (
        HOSTILE,
        "API tokens: random text, segments and JSON",
    ),
    f"{_U}test_token_properties.py::test_any_json_segments_are_refused_cleanly": (
        HOSTILE,
        "API tokens: random text, segments and JSON",
    ),
    f"{_U}test_token_properties.py::test_any_signed_times_end_in_a_token_or_unauthorized": (
        HOSTILE,
        "API tokens: random signed iat and exp",
    ),
    f"{_U}test_strict_avro.py::test_is_canonical_never_raises": (
        HOSTILE,
        "event decoder: random bytes, canonical encoding check",
    ),
    f"{_U}test_ids.py::test_random_text_passes_as_slug_only_if_it_matches_the_rule": (
        HOSTILE,
        "ids and column names: random text",
    ),
    f"{_U}test_ids.py::test_random_text_passes_as_column_only_if_it_matches_the_rule": (
        HOSTILE,
        "ids and column names: random text",
    ),
}


def registered(nodeid: str) -> tuple[str, str] | None:
    """The (area, line) a test stands for, if it is registered (parametrized variants too)."""
    base = nodeid.split("[", 1)[0]
    return REGISTERED.get(base)
