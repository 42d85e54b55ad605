"""In-process speech synthesis through libespeak-ng, with phoneme and word timings.

The library's synthesis callback hands over each chunk of audio together with the events
that fall in it; with phoneme events switched on, every phoneme arrives with its audio
position, which is what keeps the synthetic mouth in sync with the voice. The ``espeak-ng``
command line is as fast (~9 ms a sentence here) but reports no phoneme audio positions.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import pickle
from dataclasses import dataclass

import numpy as np

# espeak_AUDIO_OUTPUT, espeak_EVENT_TYPE, espeak_PARAMETER and flag values of speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_DONT_EXIT = 0x8000
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_EVENT_END = 5
_EVENT_MSG_TERMINATED = 6
_EVENT_PHONEME = 7
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE = 1, 2, 3, 4
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_EE_OK = 0


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))


class EspeakError(RuntimeError):
    """libespeak-ng is missing or refused a request."""


@dataclass
class Synthesis:
    """Raw espeak output: audio and event times in seconds from the start of ``audio``."""

    audio: np.ndarray  # int16 at ``rate``
    rate: int
    phones: list[tuple[float, float, str]]
    words: list[tuple[float, float, int]]  # (start, end, character offset in the text)


class _Engine:
    """The process-wide library state (libespeak-ng keeps one voice and one callback)."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            self.lib = ctypes.CDLL(name)
        except OSError as err:
            raise EspeakError(f"cannot load libespeak-ng ({name}): {err}; "
                              "run tools/install.sh (Debian package libespeak-ng1)") from None
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
                                               ctypes.c_int]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint,
                                          ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                          ctypes.c_void_p, ctypes.c_void_p]
        self.rate = self.lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, None,
            _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_DONT_EXIT)
        if self.rate <= 0:
            raise EspeakError("espeak_Initialize failed (espeak-ng-data not found?)")
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, int, str]] = []
        self._callback = _CALLBACK(self._on_audio)  # kept alive: the library holds a pointer
        self.lib.espeak_SetSynthCallback(self._callback)
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        self._srand = libc.srand

    def _on_audio(self, wav, n, events) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            ev = events[i]
            name = ev.id.string.decode("utf-8", "replace") if ev.type == _EVENT_PHONEME else ""
            self._events.append((ev.type, ev.audio_position, ev.text_position, name))
            i += 1
        return 0

    def synthesize(self, text: str, voice: str, pitch: int, pitch_range: int, rate: int) -> Synthesis:
        """Speak ``text`` with espeak voice name ``voice`` (e.g. ``en-us+m3``)."""
        if self.lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
            raise EspeakError(f"espeak-ng has no voice {voice!r}")
        for param, value in ((_PARAM_PITCH, pitch), (_PARAM_RANGE, pitch_range),
                             (_PARAM_RATE, rate), (_PARAM_VOLUME, 100)):
            self.lib.espeak_SetParameter(param, int(value), 0)
        self._chunks, self._events = [], []
        # Some voices add noise from libc rand(); reseeding makes each sentence's audio a
        # function of its arguments alone, whatever this process synthesised before.
        self._srand(0)
        data = text.encode("utf-8") + b"\0"
        err = self.lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if err != _EE_OK:
            raise EspeakError(f"espeak_Synth failed with code {err} on {text!r}")
        self.lib.espeak_Synchronize()
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        return Synthesis(audio, self.rate, *_timings(self._events, len(audio) / self.rate))


def _timings(events: list[tuple[int, int, int, str]], duration: float):
    """Phoneme and word intervals: each lasts until the next one of its kind starts."""
    phones = [(pos / 1000.0, name) for kind, pos, _, name in events
              if kind == _EVENT_PHONEME and name]
    words = [(pos / 1000.0, text_pos) for kind, pos, text_pos, _ in events if kind == _EVENT_WORD]
    ends = [pos / 1000.0 for kind, pos, _, _ in events if kind in (_EVENT_END, _EVENT_MSG_TERMINATED)]
    end = min(max(ends, default=duration), duration)
    phone_spans = [(s, min(phones[i + 1][0], end) if i + 1 < len(phones) else end, p)
                   for i, (s, p) in enumerate(phones)]
    word_spans = [(s, min(words[i + 1][0], end) if i + 1 < len(words) else end, t)
                  for i, (s, t) in enumerate(words)]
    return [p for p in phone_spans if p[1] > p[0]], word_spans


def _send(fd: int, obj) -> None:
    data = pickle.dumps(obj)
    view = memoryview(len(data).to_bytes(8, "little") + data)
    while view:
        view = view[os.write(fd, view):]


def _receive(fd: int):
    def exactly(n: int) -> bytes:
        chunks = []
        while n:
            chunk = os.read(fd, n)
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)
    return pickle.loads(exactly(int.from_bytes(exactly(8), "little")))


class _Zygote:
    """A single-threaded process that holds a fresh engine and forks one child per sentence.

    libespeak-ng carries waveform state from one sentence into the next, so the same call
    gives different samples depending on what the process spoke before. Each sentence is
    therefore spoken by a fork of a freshly initialised engine, which makes the output a
    function of the arguments alone. The forks come from this helper process rather than
    from the caller, because forking a process that runs threads (OpenCV, BLAS) can deadlock.
    """

    def __init__(self) -> None:
        req_r, self.req_w = os.pipe()
        self.res_r, res_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(self.req_w), os.close(self.res_r)
            code = 0
            try:
                self._serve(req_r, res_w)
            except BaseException:  # noqa: BLE001 - nothing to report to; the caller sees EOF
                code = 1
            os._exit(code)
        os.close(req_r), os.close(res_w)
        self.owner = os.getpid()

    @staticmethod
    def _serve(req_r: int, res_w: int) -> None:
        try:
            eng = _Engine()
        except EspeakError as err:
            eng = err
        while True:
            try:
                request = _receive(req_r)
            except EOFError:
                return
            if isinstance(eng, EspeakError):
                _send(res_w, eng)
                continue
            child = os.fork()
            if child == 0:
                try:
                    result = eng.synthesize(*request)
                except Exception as err:  # noqa: BLE001 - re-raised in the caller
                    result = EspeakError(str(err))
                _send(res_w, result)
                os._exit(0)
            os.waitpid(child, 0)

    def synthesize(self, *request) -> Synthesis:
        _send(self.req_w, request)
        try:
            result = _receive(self.res_r)
        except EOFError:
            raise EspeakError(f"the espeak helper process died speaking {request[0]!r}") from None
        if isinstance(result, Exception):
            raise result
        return result


_zygote: _Zygote | None = None


def start() -> None:
    """Start this process' synthesis helper now, e.g. before the process starts threads."""
    global _zygote
    if _zygote is None or _zygote.owner != os.getpid():
        _zygote = _Zygote()


def synthesize(text: str, voice: str, pitch: int = 50, pitch_range: int = 50,
               rate: int = 175) -> Synthesis:
    """Synthesise ``text``; pitch and range on espeak's 0-99 scale, rate in words/minute."""
    start()
    return _zygote.synthesize(text, voice, pitch, pitch_range, rate)
