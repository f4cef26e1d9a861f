"""nst: Gatys et al. (CVPR 2016) neural style transfer in TensorFlow 2."""

from setuptools import find_packages, setup

setup(
    name="nst",
    version="0.1.0",
    description="Faithful TensorFlow 2 reimplementation of Gatys, Ecker & Bethge, "
    "Image Style Transfer Using Convolutional Neural Networks (CVPR 2016)",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["nst", "nst.*"]),
    package_data={"nst.live": ["page.html"]},  # the live page, read with importlib.resources
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.16,<2.22",
        "tensorflow-probability>=0.24,<0.26",
        "tf-keras>=2.16,<2.22",  # tensorflow-probability refuses to import without it
        "numpy",
        "imageio>=2.28",
        "pillow",  # antialiased resizing; already a dependency of imageio
        "absl-py",
        "h5py",  # reads the Keras weight file; already a dependency of keras
        "scikit-image",  # only for its bundled sample photographs (the offline demo)
        "tqdm",  # the progress bar on a terminal
    ],
    extras_require={"test": ["pytest", "pytest-xdist", "hypothesis"],
                    "ray": ["ray>=2.9"],  # nst-batch --executor=ray
                    # nst-video: optical flow; video files (ffmpeg ships in the wheel)
                    "video": ["opencv-python-headless>=4.5", "imageio-ffmpeg>=0.4.8"]},
    entry_points={
        "console_scripts": [
            "nst=nst.cli.main:run_main",
            "nst-fetch-weights=nst.cli.fetch_weights:run_main",
            "nst-vgg-factors=nst.cli.vgg_factors:run_main",
            "nst-batch=nst.cli.batch:run_main",
            "nst-video=nst.cli.video:run_main",
        ],
    },
)
