"""The lending service: a FastAPI adapter over the core (risk, pricing, servicing) and the store."""
