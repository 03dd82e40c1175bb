"""Real market-data formats: readers, replays into the hftbook book, validation reports."""
