"""Test results: JUnit reading and merging, and summaries in md, json and csv."""
