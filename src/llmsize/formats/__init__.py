"""Weight formats: precisions and quantization layouts (widths in bits), llama.cpp's GGUF
mixtures, every tensor of an architecture with its bytes in a format, and a checkpoint's stored
bytes against the logical parameters they hold."""
