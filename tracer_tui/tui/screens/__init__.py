"""Modal screens: help, small input dialogs, pickers."""
