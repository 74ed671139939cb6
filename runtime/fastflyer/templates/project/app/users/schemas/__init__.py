"""Input and output models of the users app, one module per topic."""
