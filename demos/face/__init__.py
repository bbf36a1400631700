"""ovdemo face."""
