"""ovdemo pose."""
