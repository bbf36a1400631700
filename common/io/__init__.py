"""Sources and outputs: capture, video files, streams, output files, the window and the browser view."""
