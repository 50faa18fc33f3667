"""The provider side's use cases: publishing a release (gate, write once, views, deliveries)
and delivering history to a subscriber that joined later."""
