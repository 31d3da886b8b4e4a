"""The aiortc media engine: signalling, per-speaker decode, mixer and shared-packet fan-out."""
