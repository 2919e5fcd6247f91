"""The typed models of the published event contract, one module per producer (``edge_runtime.event_schema``
puts them together and writes the JSON Schema files)."""
