"""ovdemo text."""
