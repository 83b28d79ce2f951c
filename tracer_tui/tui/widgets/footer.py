"""Textual's Footer without its long-session leak.

Each time the bindings change (every focus change), Footer recomposes and data-binds its new keys to its
``compact`` reactive. The old keys' watchers stay registered on the Footer (Textual 8.2.8 prunes them only when
``compact`` itself changes), so every removed FooterKey stays alive: about nine widgets per focus change. After each
recompose we drop the watchers of keys that have been removed.
"""

from __future__ import annotations

from textual.widgets import Footer


class TracerFooter(Footer):
    async def recompose(self) -> None:
        await super().recompose()
        for watchers in getattr(self, "__watchers", {}).values():
            watchers[:] = [(node, callback) for node, callback in watchers if not node._closing]
