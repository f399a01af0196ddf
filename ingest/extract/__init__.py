"""Downloaded page bytes to clean article text and metadata (no network); article is the entry point."""
