"""HTTP streaming pieces shared by the gateway and the benchmark client (SSE splitting, the upstream client)."""
