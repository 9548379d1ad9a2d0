"""Amaranth components of the streaming accelerator: streams, MAC arrays, line buffers,
requantizers, conv / dense / pool / add engines, skip FIFOs and the network top.

Nothing is re-exported here: import the modules by their full path (``rtl.conv.ConvEngine``).
"""
