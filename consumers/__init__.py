"""The subscriber side: delivery consumer, grant + download + verify + land, receipts."""
