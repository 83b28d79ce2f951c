"""The Textual terminal UI, on top of the engine.

Belongs here: ``app`` (layout, keys, routing of messages), ``model`` (the one owner of what is on screen: a frozen
``Exploration`` replaced through one setter), ``jobs`` and ``contrast_jobs`` (engine work in thread workers, one
runner, one message class per outcome in ``messages``), ``wording`` (errors worded with keys), ``bindings`` and
``keymap`` (the key table and user remapping), ``themes``, ``format`` (numbers as the screen prints them),
``widgets/`` and ``screens/``. Nothing heavy is imported here: ``run_tui`` lives in ``launch``, and importing the
app must not import torch (the screen paints first).
"""
