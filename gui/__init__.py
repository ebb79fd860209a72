"""The plugin's desktop-only widgets (the Processing algorithms need none)."""
