"""Templates rendered by ``workbench.scaffold`` (a package so that they install as data)."""
