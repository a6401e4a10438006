"""STAR order logic for StarOrders (the DNO's side): template policy, request checks, accounts,
the resumable issuance state machine, and cancellation."""
