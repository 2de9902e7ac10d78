"""ECR operation handlers. Every module here registers its operations with
`crossreg.ecr.registry.operation` when imported; `registry.load_operations()` imports them all."""
