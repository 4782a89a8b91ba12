"""The routing core: decide (pure, reads through a repository) and apply (writes rows)."""
