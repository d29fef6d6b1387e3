"""The local stack and developer tooling: emulators, stand-ins, dataset set-up.

Not deployed. Used by ``scripts/dev``, ``scripts/test`` and the tests.
"""
