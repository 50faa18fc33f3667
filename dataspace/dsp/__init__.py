"""The Dataspace Protocol 2025-1 between connectors (ADR 0021).

- :mod:`.terms`: identifiers as IRIs, transfer formats, states;
- :mod:`.messages`: building and reading messages, and the protocol's error messages;
- :mod:`.negotiation`, :mod:`.transfer`: each side's state machine, kept in the connector's
  own database (:mod:`.store`) and in step with the hub's record;
- :mod:`.catalog`: a provider's catalog; :mod:`.discovery`: another connector from its URL;
- :mod:`.client`, :mod:`.http`: the HTTPS binding, both directions, signed by the sender;
- :mod:`.worker`: sends what each process owes, retries, resumes after a restart;
- :mod:`.trace`: every exchange, one JSON line each; :mod:`.service`: ``connector serve``.
"""
