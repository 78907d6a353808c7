//! Scalar reference implementations, one file per ggml type.
