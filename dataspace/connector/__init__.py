"""A participant's connector: its own key, its own state, its side of every flow.

The connector talks to the hub only over HTTP (:mod:`dataspace.connector.hub_client`), signs
every act with the participant's key (which never leaves ``<state>/keys/``), and runs the
participant's data plane: a provider's releases and grants, a subscriber's deliveries.
"""
