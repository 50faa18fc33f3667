"""The provider side: building and publishing releases, slicing per agreement, the outbox relay."""
