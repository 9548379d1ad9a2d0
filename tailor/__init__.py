"""tailor: from a residual CNN to a resource-efficient streaming FPGA accelerator."""

__version__ = "0.1.0"
