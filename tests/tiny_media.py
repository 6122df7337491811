"""Tiny media files in the real formats, written by the tests: FLV video (PyAV) and 16-bit PCM WAV (`wave`)."""
import wave

import numpy as np

EMOTIONS = ["NEU", "HAP", "SAD", "FEA", "DIS", "ANG"]
ACTORS = ["1001", "1002", "1003", "1004"]
SIZE = (64, 48)
VIDEO_FPS = 15
SAMPLE_RATE = 16000


def write_flv(path, seconds, color):
    """An FLV file (codec `flv`, video only) of `seconds` at 15 fps, 64x48: a `color` background, a moving bar."""
    import av

    with av.open(str(path), "w", format="flv") as out:
        stream = out.add_stream("flv", rate=VIDEO_FPS)
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        for i in range(round(seconds * VIDEO_FPS)):
            image = np.empty((SIZE[1], SIZE[0], 3), np.uint8)
            image[:] = color
            image[:, (4 * i) % SIZE[0]] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def tone(hz, seconds, rate=SAMPLE_RATE, amplitude=0.4):
    """A sine `(samples,)` float32."""
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def write_wav(path, wave_, rate=SAMPLE_RATE):
    """`wave_` `(samples,)` in [-1, 1] as a mono 16-bit PCM WAV file."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(wave_, -1, 1) * 32767).astype("<i2").tobytes())


def write_crema_d(root, seconds=2.5):
    """A raw CREMA-D tree under `root`: 4 actors x 6 emotions, one sentence (DFA), `VideoFlash/*.flv` and
    `AudioWAV/*.wav`; each emotion has its own frame colour and tone, so both modalities can tell the class.
    Returns the clip names."""
    (root / "VideoFlash").mkdir(parents=True)
    (root / "AudioWAV").mkdir()
    names = []
    for a, actor in enumerate(ACTORS):
        for e, emotion in enumerate(EMOTIONS):
            name = f"{actor}_DFA_{emotion}_XX"
            write_flv(root / "VideoFlash" / f"{name}.flv", seconds, (40 * e, 255 - 40 * e, 30 * a))
            write_wav(root / "AudioWAV" / f"{name}.wav", tone(300 + 150 * e, seconds))
            names.append(name)
    return names


KS_CLASSES = ["playing_bagpipes", "playing_drums", "tapping_pen"]


def write_mp4(path, seconds, color, hz):
    """An MP4 (MPEG-4 video, AAC sound at 44.1 kHz stereo) of `seconds`: a `color` background with a moving
    bar, and a sine of `hz` Hz."""
    import av

    rate = 44100
    sound = np.stack([tone(hz, seconds, rate)] * 2)  # (2, samples)
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("mpeg4", rate=VIDEO_FPS)
        video.width, video.height, video.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        audio = out.add_stream("aac", rate=rate, layout="stereo")
        for i in range(round(seconds * VIDEO_FPS)):
            image = np.empty((SIZE[1], SIZE[0], 3), np.uint8)
            image[:] = color
            image[:, (4 * i) % SIZE[0]] = 255
            out.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        for start in range(0, sound.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(sound[:, start:start + 1024]), format="fltp",
                                               layout="stereo")
            frame.sample_rate = rate
            out.mux(audio.encode(frame))
        out.mux(video.encode())
        out.mux(audio.encode())


def write_kinetics_sounds(root, clips_per_class=4, seconds=3.0):
    """A raw Kinetics-Sounds tree under `root`: one folder per class of `KS_CLASSES`, clips named like GeWu's
    (`<youtube id>_<start:06d>_<end:06d>.mp4`). Returns `{clip: class name}`."""
    labels = {}
    for c, name in enumerate(KS_CLASSES):
        (root / name).mkdir(parents=True)
        for k in range(clips_per_class):
            clip = f"yt{c}x{k}_{10 * k:06d}_{10 * k + 10:06d}"
            write_mp4(root / name / f"{clip}.mp4", seconds, (80 * c, 40, 200 - 60 * c), 400 + 200 * c)
            labels[clip] = name
    return labels
