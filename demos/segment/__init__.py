"""ovdemo segment."""
