"""What the API docs show about this service (read by FastFlyer)."""


class CustomConfig:
    TITLE = "Greetings"
    DESCRIPTION = "An example service built FROM the FastFlyer image."
    VERSION = "1.0.0"
