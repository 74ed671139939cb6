"""Models of the users app."""
