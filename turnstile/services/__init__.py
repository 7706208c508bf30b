"""The use cases (enroll, verify, identify, log), shared by the window and the CLI."""
