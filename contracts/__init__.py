"""fundwatch wire contracts: the one definition of every event and topic.

Services import from here and never from each other."""

from contracts.envelope import ENVELOPES, EVENT_TYPES, Envelope, make_event, parse_batch, parse_event
from contracts.topics import TOPICS, Family, TopicSpec

__all__ = [
    "ENVELOPES",
    "EVENT_TYPES",
    "TOPICS",
    "Envelope",
    "Family",
    "TopicSpec",
    "make_event",
    "parse_batch",
    "parse_event",
]
