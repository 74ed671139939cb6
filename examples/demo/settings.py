"""Project settings: FastFlyer reads ``CustomConfig`` for the API docs' title and info.

Service settings (port, workers, log level …) are ``flyer_*`` environment variables; see
``fastflyer config``. Shared clients (Redis, database) can be built here, as the seed shows.
"""


class CustomConfig:
    TITLE = "FastFlyer Demo"
    DESCRIPTION = "The demo service of the FastFlyer base image: items and users."
    VERSION = "1.0.0"
    CONTACT = {"name": "FastFlyer", "url": "https://github.com/jagerzhang/fastflyer"}
    OPENAPI_TAGS = [
        {"name": "Items", "description": "Demo app 1: one router file."},
        {"name": "Users", "description": "Demo app 2: several router files aggregated."},
    ]
