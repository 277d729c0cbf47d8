"""The model: the frame (rows and columns a model uses) and the design (y, X, Z, weights)."""
