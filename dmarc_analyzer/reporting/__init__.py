"""What dmarc-analyzer hands to people: Markdown summaries and charts."""
