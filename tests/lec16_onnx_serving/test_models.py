import torch

from tutorials.lec16_onnx_serving.models import DigitsCNN, TinyTransformer, digits_tensors, train_digits_cnn


def test_shapes():
    assert DigitsCNN(width=4)(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
    tiny = TinyTransformer(vocab=11, d_model=8, heads=2, layers=1, max_len=16)
    assert tiny(torch.zeros(2, 5, dtype=torch.long)).shape == (2, 5, 11)


def test_digits_tensors_are_images():
    x_train, y_train, x_val, y_val = digits_tensors()
    assert x_train.shape == (1438, 1, 8, 8) and x_val.shape == (359, 1, 8, 8)
    assert 0 <= float(x_train.min()) and float(x_train.max()) <= 1
    assert y_train.dtype == torch.long and len(y_val) == 359


def test_training_learns_and_is_seeded():
    a, acc_a = train_digits_cnn(epochs=1, seed=3, width=4)
    b, acc_b = train_digits_cnn(epochs=1, seed=3, width=4)
    assert not a.training and acc_a == acc_b > 0.3  # one epoch of a narrow net: well above chance (0.1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
