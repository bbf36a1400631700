"""ovdemo detect and ovdemo track."""
