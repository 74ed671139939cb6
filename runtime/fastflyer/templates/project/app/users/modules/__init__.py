"""Business logic of the users app, one module per topic."""
