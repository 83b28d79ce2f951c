"""Screens pushed over the main one: help, small input dialogs (answer once, whatever keys queue up), pickers, and
the contrast screen (sample, label, rank by Δ-attribution, steer)."""
