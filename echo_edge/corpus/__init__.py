"""The synthetic speech corpus: sentence generation (textgen, wordlist), one module per
synthesis engine, corpus planning and rendering (synth), and waveform augmentation (augment)."""
