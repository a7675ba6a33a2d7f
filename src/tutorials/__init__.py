"""The tested code of the executable PyTorch course.

Chapters include sections of these modules with ``pymdownx.snippets``; labs import
them; the test suite executes both. Public modules:

* :mod:`tutorials.runtime`: device selection and environment report.
* :mod:`tutorials.activations`: Swish and Mish as custom autograd Functions.
* :mod:`tutorials.autograd_graph`: walk and draw the autograd graph of a tensor.
* :mod:`tutorials.memory`: bytes saved for backward, measured with saved-tensor hooks.
* :mod:`tutorials.hooks`: module hooks that record activations and gradient norms.
* :mod:`tutorials.benchmark`: ``torch.utils.benchmark`` timings with median and IQR.
* :mod:`tutorials.reporting`: plain-text tables.
* :mod:`tutorials.exercises`: self-checks for the chapter exercises.
"""

__version__ = "0.1.0"
