"""The core every stage shares: records, settings, Elasticsearch helpers, YAML lines; imports no stage."""
