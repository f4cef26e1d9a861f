"""Video: stylise a clip with temporal consistency (Ruder, Dosovitskiy & Brox, 2016).

    import nst.video
    result = nst.video.transfer("clip.mp4", "painting.jpg", "out/clip", image_size=256)
    result.frames   # the stylised frames, HxWx3 uint8 each
    result.record   # the clip's record (out/clip/video.json)

Optical flow needs OpenCV and video files imageio-ffmpeg: pip install 'nst[video]'.
Neither (nor TensorFlow) is imported by `import nst.video`. See docs/video.md.
"""

from nst.video.loop import DEFAULT_TEMPORAL_WEIGHT, VideoResult, transfer

__all__ = ["transfer", "VideoResult", "DEFAULT_TEMPORAL_WEIGHT"]
