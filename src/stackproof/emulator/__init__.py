"""Extensions to the emulators (moto) so the reference deploys as it would on AWS.

Importing this package changes nothing; call :func:`stackproof.emulator.moto_patches.install`.
"""
