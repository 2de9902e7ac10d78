"""crossreg: a self-hosted, ECR-compatible registry with cross-account replication."""
