"""Alignment heads (MMD, Sinkhorn, GW, ...): added with MOSAICVI; none ships yet."""

__all__: list[str] = []
