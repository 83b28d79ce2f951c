"""Textual's Footer without its long-session leak.

Each time the bindings change (every focus change), Footer recomposes and data-binds its new keys to its
``compact`` reactive. The old keys' watchers stay registered on the Footer (Textual 8.x prunes the watchers of
removed widgets only when ``compact`` itself is set), so every removed FooterKey stays alive: about nine widgets
per focus change. After each recompose we set ``compact`` again through the public ``mutate_reactive``, which
prunes them (the remaining keys just get the value they already have).
"""

from __future__ import annotations

from textual.widgets import Footer


class TracerFooter(Footer):
    async def recompose(self) -> None:
        await super().recompose()
        self.prune_watchers()
        # The new keys bind themselves after they mount; keys removed before that bind late. Prune once more
        # when the screen has settled, so nothing removed outlives the next refresh.
        self.call_after_refresh(self.prune_watchers)

    def prune_watchers(self) -> None:
        """Drop the watchers of removed keys (public API only: re-setting a reactive prunes closed watchers)."""
        if self.is_attached:
            self.mutate_reactive(Footer.compact)
