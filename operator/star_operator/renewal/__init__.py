"""When to fetch the next STAR certificate and how long to back off after errors."""
