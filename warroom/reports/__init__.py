"""How incident response is going, in numbers: pure functions over the ledger, aggregated in SQL."""
