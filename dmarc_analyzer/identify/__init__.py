"""Who is behind a source IP: network, reverse DNS, the user's own list."""
