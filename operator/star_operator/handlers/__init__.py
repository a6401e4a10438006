"""kopf registrations, one module per resource; each handler delegates to a domain module."""
