"""The ``kubernetes.io/tls`` Secret: what goes in it (payload) and how it is written (writer)."""
