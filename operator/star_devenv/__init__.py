"""Real local components for tests and the demo: control plane, BIND 9, the CA, a node."""
