"""The main screen's widgets, one per module. They draw only from the immutable records the app hands them
(``tui.model``), never from a live engine ``Trace``, and never call the engine."""
