"""The subscriber agent: delivery consumer, grant + download + verify + land, receipts."""
