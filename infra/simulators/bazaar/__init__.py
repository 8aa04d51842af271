"""The bazaar simulator: a marketplace API shaped like the ones people connect (docs/bazaar.md)."""
