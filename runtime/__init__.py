"""The torch-free device runtime: bundles in, transcripts out.

    from echo_edge.runtime import Recognizer, Stream, StreamOptions, Microphone

Importing this package imports neither torch nor onnxruntime (a backend's library loads when
a bundle is opened) nor sounddevice (loaded when a Microphone is opened).
"""

from echo_edge.runtime.microphone import Microphone, MicrophoneError
from echo_edge.runtime.recognizer import Recognizer, RecognizerError, Transcript
from echo_edge.runtime.stream import Result, Stream, StreamOptions

__all__ = [
    "Microphone",
    "MicrophoneError",
    "Recognizer",
    "RecognizerError",
    "Result",
    "Stream",
    "StreamOptions",
    "Transcript",
]
