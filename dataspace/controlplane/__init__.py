"""Control-plane application services: the single place where the trust rules are enforced.

Each service function takes a :class:`~dataspace.store.db.Database`, the node's
:class:`~dataspace.controlplane.keystore.KeyStore` when someone must sign, the acting
participant and explicit inputs (domain values such as ``Registration``, ``ProductDescription``
or ``Policy``), and returns frozen views (:mod:`~dataspace.controlplane.views`). Every state
change is one transaction holding the row change, one ledger entry sealed by the acting
party's key and, when others must learn of it, one outbox message
(:mod:`~dataspace.controlplane.evidence`). The CLI and the API only wire these functions up.

==========================  ==================================================================
module                      what it does
==========================  ==================================================================
``keystore``                private keys of the participants run from this node (0600 files)
``participants``            operator set-up, registration, admission, suspension, reinstatement
``catalog``                 data products and their offers; search; DCAT export
``negotiations``            request, counter-offer, accept, reject, operator approval
``signing``                 agree -> verify -> finalize: the agreement signed by both parties
``agreements``              listing, revocation, expiry and exhaustion, use of an agreement
``ledger``                  verification, checkpoints and the latest entries of the ledger
==========================  ==================================================================

``participant_id``-like inputs are validated before they reach a file name or a query, and
every refusal is a :class:`~dataspace.errors.DataspaceError` with one sentence.
"""
