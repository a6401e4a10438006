"""A package, so that conftest.py's package-scoped fixtures (the faulted BIND 9, star-ca and
operator) end with the last fault test: without it pytest scopes them to the enclosing
``tests`` package, and the fault operator kept reconciling every later module's StarOrders
beside that module's own operator (two CA orders where tests expect one)."""
