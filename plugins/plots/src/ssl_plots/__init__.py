"""Pictures of ssl runs (matplotlib, headless): ``ssl plot RUN_DIR`` and the ``plots`` callback."""
