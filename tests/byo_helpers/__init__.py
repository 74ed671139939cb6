"""A foreign app for the bring-your-own-app tests (``tests/test_byo_app.py``)."""
