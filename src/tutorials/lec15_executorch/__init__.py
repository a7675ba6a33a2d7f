"""Lecture 15: edge deployment with ExecuTorch.

`torch.export` to the edge dialect, XNNPACK delegation and a `.pte` file run by
ExecuTorch's runtime from Python; operators without a portable kernel; 8-bit PT2E
quantization for XNNPACK; profiling with ETDump and the Inspector, memory planning,
bounded dynamic shapes and batch sizes for a frame budget; mobile builds. `chapter`
holds the code the page shows, `edge` the model, the pipeline in one call
(`build_pte`), the program readers and the plots, `exercises` the self-checks, and
`lab_15_edge_vision` the lab (size, latency and accuracy of eager, portable, XNNPACK
fp32 and XNNPACK int8 programs).
"""
