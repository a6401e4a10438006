"""RFC 8739 STAR: auto-renewal parsing, §3.5 windows, and the renewal scheduler."""
