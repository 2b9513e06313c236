"""Alert intake: formats, the receiver, dedup and launching."""
