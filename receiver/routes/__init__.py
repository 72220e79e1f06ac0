"""HTTP routes: callbacks (the providers'), admin API (/api/*), health."""
