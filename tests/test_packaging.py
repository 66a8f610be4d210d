"""The installed import names: models/, datasets/ and plots/ install under numpy_adam, so a
package named ``datasets`` (a common machine-learning library) can live beside this one."""
import subprocess
import sys
import textwrap


def test_a_top_level_datasets_package_beside_numpy_adam_does_not_collide(tmp_path):
    stand_in = tmp_path / "site" / "datasets"
    stand_in.mkdir(parents=True)
    (stand_in / "__init__.py").write_text('WHO = "the other datasets library"\n')
    script = textwrap.dedent("""
        import importlib.util
        import datasets
        import numpy_adam.datasets
        import numpy_adam.models.cifar_cnn
        import numpy_adam.plots.spread_figure
        assert datasets.WHO == "the other datasets library", datasets.__file__
        assert callable(numpy_adam.datasets.load_cifar10), numpy_adam.datasets.__file__
        assert importlib.util.find_spec("models") is None, "no top-level 'models' installed"
        assert importlib.util.find_spec("plots") is None, "no top-level 'plots' installed"
        print("ok")
    """)
    # run outside the repository, so only installed packages (and the stand-in) are importable
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, env={"PYTHONPATH": str(tmp_path / "site"), "PATH": ""},
                          timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
