"""Ops: running models in production -- the registry, the BentoML store, champion vs challenger,
monitoring, tracking (W&B), decision reports and the Prefect plumbing."""
