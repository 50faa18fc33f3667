"""Control-plane application services: the single place where the trust rules are enforced.

Each service function takes a :class:`~dataspace.store.db.Database`, the node's
:class:`~dataspace.identity.keystore.KeyStore` when someone must sign, the acting
participant and explicit inputs (domain values such as ``Registration``, ``ProductDescription``
or ``Policy``), and returns frozen views (:mod:`~dataspace.controlplane.read_models`). Every state
change is one transaction holding the row change, one ledger entry sealed by the acting
party's key and, when others must learn of it, one outbox message
(:mod:`~dataspace.controlplane.evidence`). The CLI and the API only wire these functions up.

==========================  ==================================================================
module                      what it does
==========================  ==================================================================
``participants``            operator set-up, registration, admission, suspension, reinstatement
``catalog``                 data products and their offers; search; DCAT export
``negotiations``            request, counter-offer, accept, reject, operator approval
``signing``                 agree -> verify -> finalize: the agreement signed by both parties
``contract_state``          what negotiations and agreements share: ids, visibility, transitions
``agreements``              listing, revocation, expiry and exhaustion, use of an agreement
``applications``            scenario applications for public-data products (apply, decide)
``reservations``            one publish of a product at a time, decided before any write
``releases``                who may publish which version, who receives which view; recording
``history``                 the releases a subscriber missed, delivered on request
``deliveries``              download grants, signed receipts, what is due to a subscriber
``incidents``               quality incidents opened when a release is quarantined
``evidence``                one ledger entry and, when others must learn, one outbox event
``ledger``                  verification, checkpoints and the latest entries of the ledger
``read_models``             the frozen records the services return, with their JSON form
==========================  ==================================================================

``participant_id``-like inputs are validated before they reach a file name or a query, and
every refusal is a :class:`~dataspace.errors.DataspaceError` with one sentence.
"""
