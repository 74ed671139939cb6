"""One module per library whose undocumented names FastFlyer relies on.

Nothing else in FastFlyer touches another library's internals. Each adapter names the
versions it was checked against; ``tests/contract`` checks every name it uses and fails
with the name that changed when an upstream release moves it.
"""
