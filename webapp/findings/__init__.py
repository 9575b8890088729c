"""What an inspection found: per-item results, the result notice, rectification."""
