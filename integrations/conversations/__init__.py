"""Conversations with leads: one SMS thread per person, instant replies, consent keywords."""
