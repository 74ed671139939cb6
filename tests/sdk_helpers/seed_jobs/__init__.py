"""The seed's two scheduling examples, each in its own module as a project would have them."""
