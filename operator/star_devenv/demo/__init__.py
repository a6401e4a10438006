"""The one-command demo: a STAR certificate series renewed, served, then cancelled.

Two paths, one story (examples/ as written, pointed at this environment):
  - `on_node` (the default where a LocalNode can run: root, containerd, runc, the kubelet build):
    `helm install` of the chart with the project's image built without Docker; the operator and
    the embedded CA run as pods on a real kubelet, and the CDN edge of examples/cdn-edge.yaml
    serves the StarOrder's Secret over TLS; the demo prints every certificate a TLS client of
    the edge receives.
  - `on_host` (`--no-node`, or where no node can run): the operator and the CA as host processes;
    the demo prints every certificate the Secret holds.
Both end by deleting the StarOrder and showing that the CA cancelled the series. Everything the
demo started is stopped on exit, Ctrl-C and SIGTERM included.
"""
