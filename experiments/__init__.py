"""The research scripts: one module per known result (see README.md, the gallery)."""
