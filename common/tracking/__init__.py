"""Tracking: the tracker, line and zone counting, and the assignment they share."""
