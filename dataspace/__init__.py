"""Dataspace: the event-driven exchange pipeline of a provincial trusted data space."""

__version__ = "0.1.0"
