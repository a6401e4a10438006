"""``kubectl star``: a small CLI around the operator's objects, in the spirit of cert-manager's
``cmctl`` (status, renew, inspect secret).

Installed as the console script ``kubectl-star`` (so ``kubectl star ...`` finds it as a kubectl
plugin when it is on ``PATH``), also runnable as ``python -m star_operator.cli``.

Modules: :mod:`main` (argument parsing, error handling, exit codes), :mod:`kube` (API access
with the kubeconfig), :mod:`resources` (kind names), one module per command (:mod:`status`,
:mod:`renew`, :mod:`inspect_secret`), :mod:`certinfo` (certificate decoding, pure) and :mod:`render`
(aligned plain-text output). A new command is a module with ``register(subparsers, common)``
and ``run(args, kube) -> int``, listed in :data:`main.COMMANDS`.
"""
