"""Models trained by numpy-adam: the note's CIFAR-10 CNN (``models.cifar_cnn``, the reference
layers; ``models.cifar_cnn_fast``, its fast twin that training runs) and the quadratic
f(x) = x² (``models.quadratic``). Import the submodule you need."""
