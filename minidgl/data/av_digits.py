"""AV-Digits: scikit-learn's handwritten digits paired with noisy DTMF tones of the same digit, built offline."""
import math

import torch
import torchaudio
from sklearn.datasets import load_digits

from .dataset import MultimodalDataset, stratified_split

# The telephone keypad's dual-tone code (ITU-T Q.23): digit -> (row frequency, column frequency) in Hz.
DTMF_HZ = {1: (697, 1209), 2: (697, 1336), 3: (697, 1477),
           4: (770, 1209), 5: (770, 1336), 6: (770, 1477),
           7: (852, 1209), 8: (852, 1336), 9: (852, 1477),
           0: (941, 1336)}

SAMPLE_RATE = 8000
DURATION_S = 0.25
N_FFT = 128
HOP = 64


def dtmf_tones(digits, snr_db, generator, sample_rate=SAMPLE_RATE, duration_s=DURATION_S):
    """DTMF waveforms `(n, samples)` for `digits` `(n,)`, random phases, white noise at `snr_db` dB.

    The clean tone is two unit-amplitude sines (power 1); noise has power `10 ** (-snr_db / 10)`.
    """
    t = torch.arange(int(sample_rate * duration_s)) / sample_rate
    freqs = torch.tensor([DTMF_HZ[int(d)] for d in digits], dtype=torch.float32)  # (n, 2)
    phases = 2 * math.pi * torch.rand(len(digits), 2, 1, generator=generator)
    tone = torch.sin(2 * math.pi * freqs[:, :, None] * t + phases).sum(dim=1)
    noise_std = math.sqrt(10 ** (-snr_db / 10))
    return tone + noise_std * torch.randn(tone.shape, generator=generator)


def log_spectrogram(waves, n_fft=N_FFT, hop=HOP):
    """Log-power spectrograms `(n, 1, n_fft // 2 + 1, frames)` of waveforms `(n, samples)`."""
    power = torchaudio.transforms.Spectrogram(n_fft=n_fft, hop_length=hop, power=2.0)(waves)
    return torch.log(power + 1e-6).unsqueeze(1)


def make_av_digits(image_noise=0.5, snr_db=-15.0, seed=0, val_fraction=0.2, test_fraction=0.2):
    """Build AV-Digits and split it 60/20/20 (stratified). Returns `Splits` with modalities audio, visual.

    visual: `(1, 8, 8)` digit images scaled to [0, 1] plus Gaussian pixel noise of std `image_noise`.
    audio:  `(1, 65, 32)` standardized log-spectrogram of a DTMF tone of the same digit at `snr_db` dB SNR.
    Each image gets a freshly drawn tone of its own digit, so pairing is random within class (as AV-MNIST).

    The defaults make the modalities unequal but both useful. With MLP encoders and concat fusion (30 epochs,
    seeds 0-1) the test accuracies were: visual alone 0.67, audio alone 0.39, joint training 0.59 (below
    its best single modality), uniform multitask 0.74, DGL (alpha 1) 0.76. At snr_db=-13 audio becomes the
    stronger modality (0.74) and joint training overtakes both unimodal models (0.84), DGL still ahead (0.90).
    """
    if image_noise < 0:
        raise ValueError(f"image_noise is a standard deviation and must be >= 0, got {image_noise}")
    generator = torch.Generator().manual_seed(seed)
    digits = load_digits()
    labels = torch.as_tensor(digits.target, dtype=torch.long)
    images = torch.as_tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    visual = images + image_noise * torch.randn(images.shape, generator=generator)
    audio = log_spectrogram(dtmf_tones(labels, snr_db, generator))
    audio = (audio - audio.mean()) / audio.std()
    dataset = MultimodalDataset({"audio": audio, "visual": visual}, labels, [str(d) for d in range(10)])
    return stratified_split(dataset, val_fraction, test_fraction, seed=seed)
