"""Lecture 23: advanced computer vision — CNNs, transfer learning, detection, segmentation, video, GANs.

Everything of the chapter ``docs/lectures/23-computer-vision.md`` that no other chapter
uses: :mod:`~tutorials.lec23_computer_vision.chapter` (the code the page shows, section by
section: convolution arithmetic, LeNet and a VGG-style net, batch norm, a CIFAR-10-format
archive, transfer learning, detection and segmentation models, IoU/NMS/AP, weighted
sampling, video, style transfer and a DCGAN), :mod:`~tutorials.lec23_computer_vision.exercises`
(the self-checks of its exercises), :mod:`~tutorials.lec23_computer_vision.backbone` (the
course's own pretrained backbone and the digits splits), the other helper modules
(:mod:`~tutorials.lec23_computer_vision.vision_helpers` for the page's archive, boxes,
style-transfer and GAN code and its figures, :mod:`~tutorials.lec23_computer_vision.detection_data`
for the labs' synthetic detection images, :mod:`~tutorials.lec23_computer_vision.transfer` for
the labs' training tools), and its labs ``lab_23_transfer_challenge``
(seed 001's transfer-learning challenge), ``lab_23_cnn_vs_transfer`` (a CNN from scratch
against transfer, augmentation, DataLoader settings, AMP) and ``lab_23_detection``
(detection on synthetic boxes with mAP).
"""
