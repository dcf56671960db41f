"""Op families: each module defines its Functions and binds its Tensor methods."""
