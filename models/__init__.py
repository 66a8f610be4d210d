"""Models trained by numpy-adam: the note's CIFAR-10 CNN (``models.cifar_cnn``) and the
quadratic f(x) = x² (``models.quadratic``). Import the submodule you need."""
