"""The DNO's RFC 9115 delegation front end: an ACME server for NDCs (CDNs).

Each NDC order (Order1) becomes a StarOrder in the Delegation's namespace whose CSR comes from
the NDC; the operator places Order2 at the upstream CA. The front end keeps no state of its own:
accounts live in the Delegations' status, orders in the Delegations' ``pendingOrders`` until
finalize and in the StarOrders after it, so a restart loses nothing.
"""
