"""ovdemo action."""
