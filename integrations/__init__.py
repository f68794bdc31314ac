"""The edges: everything that speaks to the outside world, one Django app per edge.

``intake`` (leads coming in), ``alerts`` (agents told), ``marketing`` (the marketing list kept
in step), ``webhooks`` (other systems told), and ``lib``, what they share. See
docs/architecture.md.
"""
